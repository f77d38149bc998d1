"""The exported model: its own tokenizer and runtime sessions, ONNX Runtime's or OpenVINO's.

Running it needs only onnxruntime (or openvino) and tokenizers, never torch.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from index.runtimes.openvino import OpenVinoSession, openvino_precision

# The graph each backend runs: OpenVINO compiles the float one itself, in bf16 on CPUs that
# compute bf16 natively, else in float (docs/benchmarks.md compares their speed).
GRAPHS = {"openvino": "model.onnx", "onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


class ExportedModel:
    """An exported model: tokenizer plus runtime sessions, thread-safe, GIL released.

    Passages run in batches, one batch per core at a time. A query runs on every core
    when it is the only one running, else on a one-thread session: a query is a few
    milliseconds of work, and under load each request then keeps one core busy instead of
    all of them fighting for both. Sessions are made when first needed.
    """

    def __init__(self, folder: Path, backend: str) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        self._precision = openvino_precision() if backend == "openvino" else None
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
                    self._sessions[threads] = OpenVinoSession(
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


def _new_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
