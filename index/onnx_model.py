"""The embedding model run by ONNX Runtime or OpenVINO: exported once with torch, then run
without it.

The export, made once per model into the cache folder, holds the whole sentence-transformers
pipeline (transformer, pooling, any dense layers, normalisation) as one ONNX graph, an int8
copy of it, the model's own tokenizer, and ``export.json``: what running it needs (dimension,
maximum length, prompts, padding) and how far each runtime's vectors are from torch's.
Loading it needs only onnxruntime (or openvino) and tokenizers, so a rebuild or a service
start does not import torch at all once the export exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from index.checksum import file_sha256
from index.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Bump when the exported files change, so stale exports are not used.
EXPORT_VERSION = 4
# The graph each backend runs: OpenVINO compiles the float one itself, in bf16 on CPUs that
# compute bf16 natively (then 1.5x faster than the int8 graph on ONNX Runtime, with vectors
# nearer torch's), else in float.
GRAPHS = {"openvino": "model.onnx", "onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
# The lowest cosine to torch's vectors, over the probe texts, for a backend to be used. int8
# vectors are close but not equal (docs/benchmarks.md measures what that costs in ranking).
MIN_COSINE = {"openvino": 0.999, "onnx": 0.999, "onnx-int8": 0.98}
_PROBES = (
    "what causes type 2 diabetes?",
    "Ein kurzer deutscher Satz über das Wetter.",
    "Russian Foreign Ministry spokesman Alexander Yakovenko has said that the talks will go on.",
    "Vitamin D supplementation lowers the risk of respiratory infections in elderly adults, "
    "a randomised controlled trial of 5,110 participants found.",
    "long passage " * 200,  # longer than the model's limit: truncation must match too
)


class OnnxModel:
    """An exported model: tokenizer plus runtime sessions, thread-safe, GIL released.

    Passages run in batches, one batch per core at a time. A query runs on every core
    when it is the only one running, else on a one-thread session: a query is a few
    milliseconds of work, and under load each request then keeps one core busy instead of
    all of them fighting for both. Sessions are made when first needed.
    """

    def __init__(self, folder: Path, backend: str) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        self._precision = _openvino_precision() if backend == "openvino" else None
        # What makes the vectors, as recorded in manifests: "openvino-bf16", "onnx-int8", ...
        self.backend = f"{backend}-{self._precision}" if self._precision else backend
        self.meta: dict[str, Any] = json.loads((folder / "export.json").read_text())
        self.dimension: int = self.meta["dimension"]
        self.max_tokens: int = self.meta["max_seq_length"]
        self._prompts: dict[str, str] = self.meta["prompts"]
        self._input_names: list[str] = self.meta["input_names"]
        text = (folder / "tokenizer.json").read_text()
        # Two tokenizers, each configured once: reconfiguring a shared one per call is what
        # makes Hugging Face tokenizers fail under threads ("Already borrowed").
        self._counter = Tokenizer.from_str(text)
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_str(text)
        self._tokenizer.enable_truncation(
            self.max_tokens, direction=self.meta["truncation_side"]
        )
        self._tokenizer.enable_padding(
            direction=self.meta["padding_side"], pad_id=self.meta["pad_id"],
            pad_token=self.meta["pad_token"],
        )
        self._graph = folder / GRAPHS[backend]
        # With the backend, identifies the vectors: a new quantisation is a new graph.
        self.graph_sha256: str | None = self.meta["sha256"][GRAPHS[backend]]
        # Made when first used: a rebuild never runs a query, a service never a passage.
        self._sessions: dict[int, Any] = {}  # by intra-op thread count
        self._sessions_lock = threading.Lock()
        self._queries_running = 0
        self._cores = os.cpu_count() or 1

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included, never truncated."""
        return len(self._counter.encode(text).ids)

    def encode_query(self, text: str) -> NDArray[np.float32]:
        """One normalised query vector, shape (dimension,)."""
        with self._sessions_lock:
            self._queries_running += 1
            alone = self._queries_running == 1
        try:
            # Alone, a query may use every core; beside others, one each: the cores are
            # then shared between requests instead of fought over (docs/benchmarks.md).
            session = self._session(threads=self._cores if alone else 1)
            vectors = self._run(session, [self._prompts["query"] + text])
        finally:
            with self._sessions_lock:
                self._queries_running -= 1
        vector: NDArray[np.float32] = vectors[0]
        return vector

    def encode_batches(self, batches: list[list[str]]) -> list[NDArray[np.float32]]:
        """Normalised passage vectors of each batch, each batch one model call."""
        # One batch per core at a time, each on one thread: for a model this small that
        # beats every core working on each batch (fewer hand-overs between threads).
        session = self._session(threads=1)
        prompt = self._prompts["document"]

        def embed(batch: list[str]) -> NDArray[np.float32]:
            return self._run(session, [prompt + text for text in batch])

        with ThreadPoolExecutor(self._cores) as pool:
            return list(pool.map(embed, batches))

    def _session(self, threads: int) -> Any:
        with self._sessions_lock:
            if threads not in self._sessions:
                if self._precision:
                    self._sessions[threads] = _OpenVinoSession(
                        self._graph, threads, self._precision, self._cores
                    )
                else:
                    self._sessions[threads] = _new_session(self._graph, threads)
            return self._sessions[threads]

    def _run(self, session: Any, texts: list[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        fields = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        inputs = {name: np.array(fields[name], dtype=np.int64) for name in self._input_names}
        vectors: NDArray[np.float32] = session.run(None, inputs)[0]
        return vectors


def load_onnx_model(
    model_path: Path, key: str, backend: str, cache_dir: Path
) -> OnnxModel:
    """The model at ``model_path`` as ``backend`` ("openvino", "onnx" or "onnx-int8").

    Exports it into ``cache_dir`` first (with torch, once) unless a complete export for
    ``key`` (the model's checksums) is there. A damaged export is made again.

    Raises:
        ModelError: the model cannot be exported, or that graph's vectors are too far from
            torch's; the caller then uses torch.
    """
    folder = export_folder(cache_dir, key)
    try:
        model = _open_export(folder, backend)
    except Exception as e:  # noqa: BLE001 - any damage or absence means: export again
        if folder.exists():
            logger.warning("ONNX export %s unusable (%s): exporting again", folder, e)
        try:
            export(model_path, folder)
        except Exception as e:  # noqa: BLE001 - torch's exporter raises anything
            raise ModelError(f"cannot export the model to ONNX: {e}") from e
        model = _open_export(folder, backend)
    cosine = model.meta["agreement"][backend]
    if cosine < MIN_COSINE[backend]:
        raise ModelError(
            f"{backend} vectors differ from torch's (cosine {cosine:.4f} < "
            f"{MIN_COSINE[backend]})"
        )
    return model


def export_folder(cache_dir: Path, key: str) -> Path:
    """Where the export of the model with checksums ``key`` lives in ``cache_dir``."""
    packages = ("torch", "onnxruntime", "openvino", "sentence-transformers")
    versions = " ".join(_version(p) for p in packages)
    digest = hashlib.sha256(f"{key} {versions} {EXPORT_VERSION}".encode()).hexdigest()
    return cache_dir / "onnx" / digest[:16]


def _open_export(folder: Path, backend: str) -> OnnxModel:
    meta = json.loads((folder / "export.json").read_text())
    for name, size in meta["sizes"].items():
        if (folder / name).stat().st_size != size:
            raise ValueError(f"{name} is not the size it was exported with")
    return OnnxModel(folder, backend)


def export(model_path: Path, folder: Path) -> None:
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
        # (docs/benchmarks.md). No reduce_range: these CPUs have VNNI.
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
            backend: _agreement(model, OnnxModel(partial, backend)) for backend in GRAPHS
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


def _agreement(model: SentenceTransformer, onnx_model: OnnxModel) -> float:
    """The lowest cosine between ONNX and torch vectors over the probes, as queries and as
    one batch of passages (padding included)."""
    probes = list(_PROBES)
    options: dict[str, Any] = dict(
        normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    queries = model.encode_query(probes, **options)
    passages = model.encode_document(probes, **options)
    query_cosines = [onnx_model.encode_query(p) @ v for p, v in zip(probes, queries, strict=True)]
    passage_cosines = (onnx_model.encode_batches([probes])[0] * passages).sum(axis=1)
    return round(float(min(min(query_cosines), passage_cosines.min())), 6)


class _OpenVinoSession:
    """The graph compiled by OpenVINO, run like an ONNX Runtime session.

    One thread (per call) means one OpenVINO stream per core, for callers running side by
    side; more means one stream using that many threads, for a call alone. Calls share a
    pool of infer requests, one per core, each run once here: two threads making their
    first OpenVINO calls at the same time deadlocked (in the static initialisers of its
    Python binding).
    """

    def __init__(self, path: Path, threads: int, precision: str, cores: int) -> None:
        import openvino

        config = {"INFERENCE_PRECISION_HINT": precision}
        if threads == 1:
            config |= {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(cores)}
        else:
            config |= {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
        core = openvino.Core()
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        example = {i.get_any_name(): np.ones((1, 2), dtype=np.int64) for i in compiled.inputs}
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(cores):
            request = compiled.create_infer_request()
            request.infer(example)
            self._requests.put(request)

    def run(self, _outputs: None, inputs: dict[str, NDArray[np.int64]]) -> list[Any]:
        request = self._requests.get()
        try:
            # A copy: the request overwrites its output buffer on its next call.
            return [np.array(request.infer(inputs)[0], dtype=np.float32)]
        finally:
            self._requests.put(request)


def _openvino_precision() -> str:
    """bf16 where the CPU computes it natively (AVX-512 BF16 or AMX), else f32."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: float is always right
        return "f32"
    return "bf16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) else "f32"


def _new_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _version(package: str) -> str:
    try:
        return f"{package}={metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package}=none"
