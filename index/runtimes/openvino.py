"""The OpenVINO runtime: the exported graph compiled by OpenVINO, run like an ONNX Runtime session.

openvino itself is imported only when a session is made.
"""

from __future__ import annotations

import queue
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class OpenVinoSession:
    """The graph compiled by OpenVINO, run like an ONNX Runtime session.

    One thread (per call) means one OpenVINO stream per core, for callers running side by
    side; more means one stream using that many threads, for a call alone. Calls share a
    pool of infer requests, one per core, each run once here: two threads making their
    first OpenVINO calls at the same time deadlocked (in the static initialisers of its
    Python binding).
    """

    def __init__(self, path: Path, threads: int, precision: str, cores: int) -> None:
        openvino = import_openvino()
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


def import_openvino() -> Any:
    """openvino, with its usage telemetry off.

    Importing openvino sends an event to Google Analytics unless the user opted out. It does
    so from a child process it forks without exec, gives 3 s, then sends SIGTERM. The child
    holds every file this process has open, the build lock too, and a child that hangs (a
    network that does not answer, a lock another thread held as it forked) lives on: it
    inherits the SIGTERM handler of a watcher or the server, so the signal does not end it.
    A watcher then failed every build for a minute: "another rebuild is running". With
    openvino_telemetry unimportable, openvino uses the stub it ships for that case, which
    sends nothing.
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def openvino_precision() -> str:
    """bf16 where the CPU computes it natively (AVX-512 BF16 or AMX), else f32."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: float is always right
        return "f32"
    return "bf16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) else "f32"
