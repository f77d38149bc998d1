"""Helpers shared by the query benchmarks (query_latency.py, throughput.py).

Not a benchmark itself: query files, the indexes they run on (the sample corpus built into a
temporary folder, a private copy of the SciFact index), the real service started as a
subprocess, percentiles, machine state and output files.

The embedding model caches query vectors (an LRU in ``Embedder.embed_query``), so a query
measured twice in one process measures a dictionary look-up, not the model. ``QueryPool``
hands out every query text at most once, so no measured query can hit that cache.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import platform
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub is reachable from here

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/, not the repo, first
    sys.path.insert(0, str(REPO))

from index import (  # noqa: E402
    Config,
    Embedder,
    IndexFolder,
    Searcher,
    build_index,
    load_config,
)

logger = logging.getLogger("bench")
F = TypeVar("F", bound=Callable[..., Any])

EVAL_DIR = REPO.parent / "shared" / "eval"
SAMPLE_CORPUS = REPO / "corpus"
SCIFACT_INDEX = REPO / "var" / "eval" / "scifact" / "index"
SAMPLE_QUERY_FILES = (REPO / "eval" / "sample_queries.jsonl", EVAL_DIR / "seed_dev_queries.jsonl")
SCIFACT_QUERIES = EVAL_DIR / "scifact" / "queries.jsonl"
NFCORPUS_QUERIES = EVAL_DIR / "nfcorpus" / "queries.jsonl"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- queries -------------------------------------------------------------------------------

def read_queries(path: Path) -> list[str]:
    """Query texts of a JSONL file: ``{"q": ...}`` (seed format) or ``{"text": ...}`` (BEIR)."""
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                text = str(row.get("q") or row.get("text") or "").strip()
                if text:
                    texts.append(text)
    return texts


class QueryPool:
    """Hands out query texts, each at most once over the pool's life (so never a cache hit).

    One pool per query-vector cache: the benchmark process has one, and so does each
    service process. Sources are drawn in order; a source is a list of texts.
    """

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, n: int, sources: Sequence[Sequence[str]]) -> list[str]:
        """``n`` texts never handed out before, from the first sources that still have some.

        Raises:
            ValueError: the sources hold fewer than ``n`` unused texts.
        """
        taken: list[str] = []
        for source in sources:
            for text in source:
                if len(taken) == n:
                    return taken
                if text not in self.used:
                    self.used.add(text)
                    taken.append(text)
        if len(taken) < n:
            raise ValueError(f"only {len(taken)} unused distinct queries left, {n} wanted: "
                             "ask for fewer queries")
        return taken


def distinct(texts: Iterable[str]) -> list[str]:
    """``texts`` without repeats, first occurrence kept, in order."""
    return list(dict.fromkeys(texts))


def query_sources() -> dict[str, list[list[str]]]:
    """Per dataset ("sample", "scifact"), the query lists a ``QueryPool`` draws from, in
    order: for the sample corpus its questions, then SciFact's from the end, then NFCorpus's;
    for SciFact its own, then NFCorpus's."""
    sample = distinct(q for f in SAMPLE_QUERY_FILES for q in read_queries(f))
    scifact = distinct(read_queries(SCIFACT_QUERIES))
    nfcorpus = distinct(read_queries(NFCORPUS_QUERIES))
    return {"sample": [sample, scifact[::-1], nfcorpus], "scifact": [scifact, nfcorpus]}


# --- indexes and the in-process searcher ---------------------------------------------------

def base_config(**overrides: Any) -> Config:
    """Settings as the service would read them (SEARCH_* variables), plus ``overrides``."""
    return load_config(None, os.environ, overrides)


def copy_index(source: Path, dest: Path) -> Path:
    """Copy the live generation of ``source`` (with its CURRENT pointer) into ``dest``.

    A private copy: the original may be rebuilt by someone else mid-run, and the service
    would then switch generation under the benchmark.
    """
    live = IndexFolder(source).current()
    target = dest / "generations" / live.name
    shutil.copytree(live, target)
    (dest / "CURRENT").write_text(live.name + "\n")
    return dest


def build_sample_index(dest: Path, embedder: Embedder, docs: Path = SAMPLE_CORPUS) -> Path:
    """Index ``docs`` into ``dest`` with ``embedder`` (the configured settings otherwise)."""
    config = base_config(docs_dir=docs, index_dir=dest)
    report = build_index(config, embedder=embedder)
    logger.info("built %s into %s: %d passages in %.1f s", docs, dest, report.passages,
                report.seconds)
    return dest


@dataclass
class Loaded:
    """What the service process holds, loaded the same way in this process."""

    embedder: Embedder
    searcher: Searcher


def load_like_service(index_dir: Path, embedder: Embedder | None = None) -> Loaded:
    """Open ``index_dir`` exactly as ``python -m service`` does, through ``create_app``.

    So the in-process numbers use the embedder (and query backend) the service is configured
    with, warm-up query included. Pass ``embedder`` to share one model between indexes.
    """
    from service import create_app

    app = create_app(base_config(index_dir=index_dir), embedder=embedder, watch=False)
    live = app.extensions["live_index"]
    if live.searcher is None:
        raise RuntimeError(f"no usable index in {index_dir}")
    return Loaded(live.embedder, live.searcher)


def service_embedder(empty_dir: Path) -> Embedder:
    """The embedder ``python -m service`` would load with the configured settings.

    Built by ``create_app`` over an empty folder, so whatever the service does to set up its
    model (query backend included) happens here too.
    """
    from service import create_app

    app = create_app(base_config(index_dir=empty_dir), watch=False)
    embedder: Embedder = app.extensions["live_index"].embedder
    return embedder


def describe_backend(embedder: Embedder) -> str:
    """What encodes the embedder's queries: "onnx", "onnx-int8" or "torch"."""
    return embedder.query_backend


# --- the service in a subprocess -----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``python -m service`` on a free port, started and stopped by the benchmark."""

    def __init__(self, index_dir: Path, threads: int | None = None, log_dir: Path | None = None,
                 ready_timeout: float = 300.0) -> None:
        self.index_dir = index_dir
        self.threads = threads
        self.port = free_port()
        self.ready_timeout = ready_timeout
        log_dir = log_dir or Path(tempfile.gettempdir())
        self.log_path = log_dir / f"service-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        command = [sys.executable, "-m", "service", "--index-dir", str(self.index_dir),
                   "--host", "127.0.0.1", "--port", str(self.port)]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        logger.info("starting %s", " ".join(command))
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self._proc.returncode}:\n"
                                   + self.log_tail())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    logger.info("service ready on port %d (pid %d)", self.port, self._proc.pid)
                    return
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the service was not ready within {self.ready_timeout:.0f} s:\n"
                           + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def search_path(query: str, k: int = 10, mode: str | None = None) -> str:
    """The GET form of /api/search for ``query``."""
    fields: dict[str, str | int] = {"q": query, "k": k}
    if mode:
        fields["mode"] = mode
    return "/api/search?" + urllib.parse.urlencode(fields)


def expensive_path(rng: random.Random) -> str:
    """A search built to cost the most: 1,000 characters of distinct made-up words, k=100,
    offset=1000, grouped by document, explained."""
    words = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 6)))
                     for _ in range(250))[:1000]
    fields = {"q": words, "k": 100, "offset": 1000, "group": "doc", "explain": "true"}
    return "/api/search?" + urllib.parse.urlencode(fields)


class HttpClient:
    """One persistent HTTP/1.1 connection (keep-alive), as a web app's backend would hold."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn.connect()
            # Small request, small reply: never let Nagle hold a segment back.
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of GET ``path``; reconnects once if the server closed the socket."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- statistics and reports ----------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation); NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def machine_state() -> dict[str, Any]:
    """What the numbers depend on: cores, load, versions. Recorded with every result."""
    import torch

    state: dict[str, Any] = {
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import onnxruntime

        state["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return state


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN != NaN


def report_options(json_help: str = "Also write the results as JSON here.",
                   verbose_help: str = "Debug logging.") -> Callable[[F], F]:
    """The options of a benchmark that reports: --markdown, --json and -v, passed to its
    main as ``markdown_out``, ``json_out`` and ``verbose``."""
    def add(command: F) -> F:
        for option in reversed((
            click.option("--markdown", "markdown_out",
                         type=click.Path(path_type=Path, dir_okay=False),
                         help="Also write the Markdown report here."),
            click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
                         help=json_help),
            click.option("-v", "--verbose", is_flag=True, help=verbose_help),
        )):
            command = option(command)
        return command
    return add


def write_outputs(markdown: str, results: dict[str, Any], markdown_out: Path | None,
                  json_out: Path | None) -> None:
    """Print the Markdown report to stdout and write the files asked for."""
    print(markdown)
    for path, text in ((markdown_out, markdown + "\n"),
                       (json_out, json.dumps(results, indent=2) + "\n")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            logger.info("wrote %s", path)
