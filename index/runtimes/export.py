"""Exporting a sentence-transformers model to ONNX with torch, once, checked against torch.

The export, made into the cache folder, holds the whole sentence-transformers pipeline
(transformer, pooling, any dense layers, normalisation) as one ONNX graph, an int8 copy of
it, the model's own tokenizer, and ``export.json``: what running it needs (dimension,
maximum length, prompts, padding) and how far each runtime's vectors are from torch's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.checksum import file_sha256
from index.errors import ModelError
from index.runtimes.exported_model import GRAPHS, ExportedModel

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Bump when the exported files change, so stale exports are not used.
EXPORT_VERSION = 4
_PROBES = (
    "what causes type 2 diabetes?",
    "Ein kurzer deutscher Satz über das Wetter.",
    "Russian Foreign Ministry spokesman Alexander Yakovenko has said that the talks will go on.",
    "Vitamin D supplementation lowers the risk of respiratory infections in elderly adults, "
    "a randomised controlled trial of 5,110 participants found.",
    "long passage " * 200,  # longer than the model's limit: truncation must match too
)


def export_folder(cache_dir: Path, key: str) -> Path:
    """Where the export of the model with checksums ``key`` lives in ``cache_dir``."""
    packages = ("torch", "onnxruntime", "openvino", "sentence-transformers")
    versions = " ".join(_version(p) for p in packages)
    digest = hashlib.sha256(f"{key} {versions} {EXPORT_VERSION}".encode()).hexdigest()
    return cache_dir / "onnx" / digest[:16]


def export_model(model_path: Path, folder: Path) -> None:
    """Export the sentence-transformers model at ``model_path`` into ``folder``.

    Written into a temporary folder and renamed: a crash, or a second process exporting at
    the same time, never leaves a half-written export where the next start would load it.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    logger.info("exporting the model to ONNX (once): %s", folder)
    folder.parent.mkdir(parents=True, exist_ok=True)  # before the slow part: fail early
    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError("the model has no fast (Rust) tokenizer")
    partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".partial-"))
    try:
        names = _export_graph(model, partial / GRAPHS["onnx"])
        # Dynamic quantisation of the matrix products: int8 weights per output channel,
        # activations quantised per call (so a passage's int8 vector depends a little on
        # the batch it is in). The embedding table stays float (a lookup gains nothing), and
        # so do the feed-forward output projections of the first half of the layers: their
        # inputs have outliers, and quantising them cost most of the drift from torch
        # (docs/quality.md). No reduce_range: these CPUs have VNNI.
        graph = onnx.load(partial / GRAPHS["onnx"], load_external_data=False).graph
        outputs = [
            node.name for node in graph.node
            if node.op_type == "MatMul" and "/output/dense/" in node.name
            and "/attention/" not in node.name
        ]
        quantize_dynamic(
            partial / GRAPHS["onnx"], partial / GRAPHS["onnx-int8"],
            weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
            op_types_to_quantize=["MatMul"], nodes_to_exclude=outputs[: len(outputs) // 2],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        (partial / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str())
        prompts = model.prompts or {}
        document_prompt = next(
            (prompts[n] for n in ("document", "passage", "corpus") if prompts.get(n)), ""
        )
        meta: dict[str, Any] = {
            "version": EXPORT_VERSION,
            "source": str(model_path),
            "dimension": model.get_embedding_dimension(),
            "max_seq_length": model.max_seq_length,
            "prompts": {"query": prompts.get("query") or "", "document": document_prompt},
            "input_names": names,
            "pad_id": tokenizer.pad_token_id,
            "pad_token": tokenizer.pad_token,
            "padding_side": tokenizer.padding_side,
            "truncation_side": tokenizer.truncation_side,
        }
        if meta["prompts"] != {"query": "", "document": ""} and _excludes_prompt(model):
            raise ModelError("the model pools without its prompt tokens")
        meta["sizes"] = {f.name: f.stat().st_size for f in partial.iterdir()}
        meta["sha256"] = {f.name: file_sha256(f) for f in partial.iterdir()}
        (partial / "export.json").write_text(json.dumps(meta, indent=2))
        meta["agreement"] = {
            backend: _agreement(model, ExportedModel(partial, backend)) for backend in GRAPHS
        }
        logger.info("vectors against torch: lowest cosine %s", meta["agreement"])
        (partial / "export.json").write_text(json.dumps(meta, indent=2))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _export_graph(model: SentenceTransformer, path: Path) -> list[str]:
    """Trace the whole pipeline into ``path``; returns the names of its token inputs."""
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

    # The tracer warns about the legacy exporter and about branches it freezes (fixed
    # shape checks); the agreement check against torch is what proves the export right.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEmbedding().eval(), tuple(example[name] for name in names), str(path),
            dynamo=False, opset_version=17, input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={
                **{name: {0: "batch", 1: "tokens"} for name in names},
                "sentence_embedding": {0: "batch"},
            },
        )
    return names


def _excludes_prompt(model: SentenceTransformer) -> bool:
    return any(getattr(module, "include_prompt", True) is False for module in model)


def _agreement(model: SentenceTransformer, exported: ExportedModel) -> float:
    """The lowest cosine between ONNX and torch vectors over the probes, as queries and as
    one batch of passages (padding included)."""
    probes = list(_PROBES)
    options: dict[str, Any] = dict(
        normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    queries = model.encode_query(probes, **options)
    passages = model.encode_document(probes, **options)
    query_cosines = [exported.encode_query(p) @ v for p, v in zip(probes, queries, strict=True)]
    passage_cosines = (exported.encode_batches([probes])[0] * passages).sum(axis=1)
    return round(float(min(min(query_cosines), passage_cosines.min())), 6)


def _version(package: str) -> str:
    try:
        return f"{package}={metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package}=none"
