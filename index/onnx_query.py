"""Query encoding with ONNX Runtime: the same vectors as torch, about 2x sooner for one query.

The sentence-transformers model (transformer, pooling, normalisation) is exported once to an
ONNX file in the cache folder, keyed by the model's checksums and the library versions, and
checked against torch when loaded; any failure leaves the caller on torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Bump when the exported graph changes, so stale cache files are not used.
EXPORT_VERSION = 1
MIN_COSINE = 0.999
_PROBES = (
    "what causes type 2 diabetes?",
    "Ein kurzer deutscher Satz über das Wetter.",
    "long passage " * 200,  # longer than the model's limit: truncation must match too
)


class OnnxQueryEncoder:
    """One ONNX Runtime session; ``run`` is thread-safe and releases the GIL."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per query: a query is a few milliseconds of work, and under load each
        # request thread then keeps one core busy instead of all threads fighting for both.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.path = path

    def run(self, features: dict[str, Any]) -> NDArray[np.float32]:
        """Normalised vectors for tokenised ``features`` (the model's own tokenizer output)."""
        inputs = {name: np.asarray(features[name], dtype=np.int64) for name in self.input_names}
        vectors: NDArray[np.float32] = self._session.run(None, inputs)[0]
        return vectors


def load_onnx_query_encoder(
    model: SentenceTransformer, key: str, cache_dir: Path
) -> OnnxQueryEncoder | None:
    """The model's ONNX query encoder, exported into ``cache_dir`` if not there yet.

    Returns None, having logged why, when the export fails or its vectors differ from torch's.
    """
    try:
        import onnxruntime
        import torch
    except ImportError as e:
        logger.warning("ONNX Runtime unavailable (%s): queries use torch", e)
        return None
    digest = hashlib.sha256(
        f"{key} {torch.__version__} {onnxruntime.__version__} {EXPORT_VERSION}".encode()
    ).hexdigest()
    path = cache_dir / "onnx" / f"query-{digest[:16]}.onnx"
    try:
        if path.exists():
            try:
                encoder = OnnxQueryEncoder(path)
            except Exception:  # noqa: BLE001 - a damaged cache file is exported again
                logger.warning("damaged ONNX export %s: exporting again", path)
                path.unlink()
        if not path.exists():
            _export(model, path)
            encoder = OnnxQueryEncoder(path)
        cosine = _agreement(model, encoder)
    except Exception as e:  # noqa: BLE001 - any export or runtime failure means: use torch
        logger.warning("cannot use ONNX Runtime for queries (%s): queries use torch", e)
        return None
    if cosine < MIN_COSINE:
        logger.warning(
            "ONNX query vectors differ from torch's (cosine %.4f): queries use torch", cosine
        )
        return None
    logger.info("queries encoded with ONNX Runtime (%s)", path)
    return encoder


def query_features(model: SentenceTransformer, texts: list[str]) -> dict[str, Any]:
    """Token tensors for queries, as ``encode_query`` makes them (its prompt included)."""
    return model.preprocess(texts, prompt=model.prompts.get("query") or None, task="query")


def _export(model: SentenceTransformer, path: Path) -> None:
    import torch

    example = model.preprocess(["an example query", "a second, longer example query"])
    names = [name for name, value in example.items() if isinstance(value, torch.Tensor)]

    class SentenceEmbedding(torch.nn.Module):
        """The whole sentence-transformers pipeline as a function of the token tensors."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            embedding = self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]
            return torch.nn.functional.normalize(embedding, p=2.0, dim=1)

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed: a crash or a second process never leaves
    # a half-written file where the next start would load it.
    fd, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    os.close(fd)
    try:
        # The tracer warns about the legacy exporter and about branches it freezes (fixed
        # shapes checks); the agreement check against torch is what proves the export right.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                SentenceEmbedding().eval(), tuple(example[name] for name in names), partial,
                dynamo=False, opset_version=17, input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "tokens"} for name in names},
                    "sentence_embedding": {0: "batch"},
                },
            )
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    logger.info("exported the model to ONNX for queries: %s", path)


def _agreement(model: SentenceTransformer, encoder: OnnxQueryEncoder) -> float:
    """The lowest cosine between ONNX and torch query vectors over a few probe texts."""
    expected = model.encode_query(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True)
    cosines = [
        float(encoder.run(query_features(model, [probe]))[0] @ vector)
        for probe, vector in zip(_PROBES, expected, strict=True)
    ]
    return min(cosines)
