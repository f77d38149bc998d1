"""Load and soak: the real service over HTTP, failures counted, latency percentiles, memory.

    .venv/bin/python benchmarks/load.py                  # 16 clients, 60 s, a rebuild at 15 s
    .venv/bin/python benchmarks/load.py --soak           # 8 clients, 600 s, service RSS sampled
    .venv/bin/python benchmarks/load.py --soak --expensive 8   # and 8 clients of expensive searches
    .venv/bin/python benchmarks/load.py --duration 10 --json var/bench/load.json

What: the sample corpus is indexed with ``scripts/rebuild_index.py`` into a temporary folder
and served by ``python -m service`` (waitress, 8 threads). N client threads, each on its own
keep-alive connection, send requests back to back for the duration: GET /api/search in the
three modes (80%), the /search page (10%), a document through /api/documents (5%) and the
document page (5%). Every query is a different real one (sample, seed, SciFact, NFCorpus
queries, rotated in order: a query returns only after more distinct queries than the query
cache holds); real queries over 200 characters, which the service counts as expensive, are
their own kind, `long_query`. A failure is any status other than 200, or any socket error or
time-out; no request is retried. In load mode the rebuild script runs at --rebuild-at seconds
with one added document and publishes a new generation while the load goes on; the report says when
the service switched and that no answer mixed generations afterwards.

With --expensive N, N more clients send searches built to cost the most (as
benchmarks/flood.py does: 1,000 characters of distinct words, k=100, offset=1000, grouped,
explained); the service refuses those it has no room for with 503 and Retry-After, which is
counted as refused, not failed.

In soak mode the service's resident memory (VmRSS) is read every 5 s. Growth is reported from
the first sample (after a warm-up of 20 requests per client) and from the end of the first
minute (once ONNX Runtime's and SQLite's caches have filled); the target is < 10%.

Exit status 1 when a request failed, the rebuild failed or did not publish, or (soak) memory
grew by 10% or more after the first minute.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from common import (
    NFCORPUS_QUERIES,
    REPO,
    SAMPLE_CORPUS,
    SAMPLE_QUERY_FILES,
    SCIFACT_QUERIES,
    Service,
    distinct,
    expensive_path,
    fmt,
    machine_state,
    markdown_table,
    percentile,
    read_queries,
    setup_logging,
    write_outputs,
)

from service.admission import HEAVY_QUERY_CHARS

logger = logging.getLogger("bench.load")

REBUILD = REPO / "scripts" / "rebuild_index.py"
ADDED_DOCUMENT = (
    "Harbour lights\n\nThe harbour lights of the old port were switched to LED lamps last "
    "spring, and the fishermen say the channel has never been easier to find at night.\n"
)
RSS_EVERY = 5.0  # seconds between memory samples
WARM_UP_REQUESTS = 20  # per client, before the clock starts
MAX_RSS_GROWTH = 0.10


@dataclass
class Sample:
    started: float  # seconds since the measured run began
    ms: float
    kind: str
    status: int  # 0: no HTTP answer (socket error, time-out)
    generation: str | None = None


@dataclass
class RebuildRun:
    started: float = float("nan")
    finished: float = float("nan")
    exit_code: int | None = None
    generation: str | None = None
    output: str = ""


@dataclass
class Memory:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, RSS in KiB)

    def growth(self, after: float = 0.0) -> float:
        """Relative growth from the first sample at or after ``after`` s to the last one."""
        usable = [kib for t, kib in self.samples if t >= after]
        return (usable[-1] - usable[0]) / usable[0] if len(usable) >= 2 else float("nan")


class Requests:
    """The rotating stream of requests every client draws from, one at a time."""

    def __init__(self, queries: list[str], document_ids: list[str]) -> None:
        self._queries = itertools.cycle(queries)
        self._documents = itertools.cycle(document_ids)
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> tuple[str, str]:
        """(kind, path) of the next request."""
        with self._lock:
            turn = next(self._turn) % 20
            if turn == 18:
                return "api_document", f"/api/documents/{next(self._documents)}"
            if turn == 19:
                return "page_document", f"/documents/{next(self._documents)}"
            query = next(self._queries)
        if len(query) > HEAVY_QUERY_CHARS:  # the service counts it expensive, see failed()
            return "long_query", "/api/search?" + urllib.parse.urlencode({"q": query, "k": 10})
        if turn in (16, 17):
            return "page_search", "/search?" + urllib.parse.urlencode({"q": query})
        mode = ("hybrid", "hybrid", "dense", "lexical")[turn % 4]
        return f"api_{mode}", "/api/search?" + urllib.parse.urlencode(
            {"q": query, "k": 10, "mode": mode})


class ExpensiveRequests:
    """Searches built to cost the most, each one different."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def next(self) -> tuple[str, str]:
        return "expensive", expensive_path(self._rng)


def failed(sample: Sample) -> bool:
    """Any status but 200; for a search the service counts expensive (a made-up expensive
    one, or a real query over HEAVY_QUERY_CHARS), a 503 (no room for it now) is a refusal."""
    refusable = sample.kind in ("expensive", "long_query")
    return sample.status not in ((200, 503) if refusable else (200,))


def client(port: int, requests: Requests | ExpensiveRequests, clock: Clock,
           out: list[Sample]) -> None:
    """Requests back to back on one keep-alive connection until the clock stops."""
    connection: http.client.HTTPConnection | None = None
    warm_up = WARM_UP_REQUESTS
    while not clock.stopped:
        kind, path = requests.next()
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        status, generation = 0, None
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            status = response.status
            if kind.startswith("api_") and kind != "api_document" and status == 200:
                generation = json.loads(body)["index"]["generation"]
        except (OSError, http.client.HTTPException, ValueError) as e:
            logger.warning("%s %s: %s", kind, path[:80], e)
            connection.close()
            connection = None
        ms = (time.perf_counter() - started) * 1000
        if warm_up:
            warm_up -= 1
            clock.warmed_up()
            continue
        clock.wait_start()
        if not clock.stopped:
            out.append(Sample(started - clock.start, ms, kind, status, generation))
    if connection is not None:
        connection.close()


class Clock:
    """Starts the measured run once every client has warmed up; stops it after ``seconds``."""

    def __init__(self, clients: int) -> None:
        self._waiting = clients * WARM_UP_REQUESTS
        self._lock = threading.Lock()
        self._started = threading.Event()
        self.start = 0.0
        self.stopped = False

    def warmed_up(self) -> None:
        with self._lock:
            self._waiting -= 1
            if self._waiting == 0:
                self.start = time.perf_counter()
                self._started.set()

    def wait_start(self) -> None:
        self._started.wait()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def rebuild(docs: Path, index: Path, run: RebuildRun | None = None, clock: Clock | None = None
            ) -> RebuildRun:
    """Run the rebuild script as a user would; ``run`` records its timing on ``clock``."""
    run = run or RebuildRun()
    run.started = clock.elapsed() if clock else 0.0
    result = subprocess.run(
        [sys.executable, str(REBUILD), "--docs", str(docs), "--index-dir", str(index), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    run.finished = clock.elapsed() if clock else 0.0
    run.exit_code = result.returncode
    run.output = (result.stdout + result.stderr).strip()
    for line in result.stdout.splitlines():
        if ", generation " in line:
            run.generation = line.rsplit(" ", 1)[1].rstrip(".")
    if result.returncode != 0:
        logger.error("rebuild failed (exit %d):\n%s", result.returncode, run.output)
    return run


def summarise(samples: list[Sample], seconds: float) -> dict[str, Any]:
    ms = [s.ms for s in samples]
    return {
        "requests": len(samples),
        "failed": sum(map(failed, samples)),
        "statuses": {str(k): v for k, v in sorted(_count(s.status for s in samples).items())},
        "requests_per_s": round(len(samples) / seconds, 1) if seconds else float("nan"),
        "p50_ms": round(percentile(ms, 50), 1), "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1), "p999_ms": round(percentile(ms, 99.9), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
    }


def _count(values: Any) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def generations_seen(samples: list[Sample], old: str, new: str | None) -> dict[str, Any]:
    """When answers switched to ``new``, and whether any came from ``old`` after that."""
    ordered = sorted((s for s in samples if s.generation), key=lambda s: s.started + s.ms / 1000)
    first_new = next((s for s in ordered if s.generation == new), None)
    switched_at = first_new.started if first_new else None
    # A request sent after another one was answered by the new generation must not get the
    # old one (each request takes the searcher once, so only requests in flight may).
    late_old = [s for s in ordered if s.generation == old and switched_at is not None
                and s.started > switched_at + first_new.ms / 1000] if first_new else []
    return {
        "old": old, "new": new,
        "first_answer_from_new_s": round(switched_at, 2) if switched_at is not None else None,
        "answers_from_old": sum(s.generation == old for s in ordered),
        "answers_from_new": sum(s.generation == new for s in ordered),
        "old_after_switch": len(late_old),
        "other": sorted({s.generation for s in ordered} - {old, new}),  # type: ignore[arg-type]
    }


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 256), help="Clients.  [default: 16; 8 soak]")
@click.option("--duration", type=click.FloatRange(1), help="Seconds.  [default: 60; 600 soak]")
@click.option("--soak", is_flag=True, help="8 clients for 10 minutes, sampling memory.")
@click.option("--rebuild-at", type=float,
              help="Publish a new generation after this many seconds.  [default: 15; none soak]")
@click.option("--expensive", type=click.IntRange(0, 256), default=0, show_default=True,
              help="More clients, sending the most expensive searches.")
@click.option("--threads", type=int, default=8, show_default=True, help="Service threads.")
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path))
@click.option("--json", "json_out", type=click.Path(path_type=Path))
@click.option("-v", "--verbose", is_flag=True)
def main(concurrency: int | None, duration: float | None, soak: bool, rebuild_at: float | None,
         expensive: int, threads: int, markdown_out: Path | None, json_out: Path | None,
         verbose: bool) -> None:
    """Drive the service with concurrent clients; report failures, latency and memory."""
    setup_logging(verbose)
    concurrency = concurrency or (8 if soak else 16)
    duration = duration or (600.0 if soak else 60.0)
    if rebuild_at is None and not soak:
        rebuild_at = 15.0
    queries = distinct([q for f in SAMPLE_QUERY_FILES for q in read_queries(f)]
                       + read_queries(SCIFACT_QUERIES) + read_queries(NFCORPUS_QUERIES))
    state_before = machine_state()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        docs, index = Path(tmp, "docs"), Path(tmp, "index")
        shutil.copytree(SAMPLE_CORPUS, docs)
        for path in docs.iterdir():
            path.chmod(0o644)
        first = rebuild(docs, index)
        if first.exit_code != 0 or first.generation is None:
            raise click.ClickException(f"the first build failed:\n{first.output}")
        document_ids = sorted(p.stem for p in docs.glob("*.txt"))
        with Service(index, threads=threads, log_dir=Path(tmp)) as service:
            assert service.pid is not None
            results = run_load(service.port, service.pid, concurrency, expensive, duration,
                               rebuild_at, queries, document_ids, docs, index, first.generation)
            results["service_log_errors"] = [
                line for line in service.log_tail(10_000).splitlines()
                if " ERROR " in line or "Traceback" in line]
    results["machine_before"] = state_before
    results["machine_after"] = machine_state()
    results["settings"] = {"concurrency": concurrency, "expensive_clients": expensive,
                           "duration_s": duration, "soak": soak,
                           "rebuild_at_s": rebuild_at, "service_threads": threads,
                           "distinct_queries": len(queries)}
    write_outputs(report(results), results, markdown_out, json_out)
    problems = verdict(results)
    if problems:
        raise click.ClickException("; ".join(problems))


def run_load(port: int, pid: int, concurrency: int, expensive: int, duration: float,
             rebuild_at: float | None, queries: list[str], document_ids: list[str], docs: Path,
             index: Path, old_generation: str) -> dict[str, Any]:
    requests = Requests(queries, document_ids)
    sources: list[Requests | ExpensiveRequests] = [requests] * concurrency
    sources += [ExpensiveRequests(seed) for seed in range(expensive)]
    clock = Clock(len(sources))
    per_client: list[list[Sample]] = [[] for _ in sources]
    threads = [threading.Thread(target=client, args=(port, source, clock, out), daemon=True)
               for source, out in zip(sources, per_client, strict=True)]
    for thread in threads:
        thread.start()
    clock.wait_start()
    logger.info("warmed up; measuring %d clients for %.0f s", len(sources), duration)
    memory = Memory([(0.0, rss_kib(pid))])
    rebuilt = RebuildRun()
    rebuilder: threading.Thread | None = None
    next_rss = RSS_EVERY
    while (elapsed := clock.elapsed()) < duration:
        if rebuild_at is not None and rebuilder is None and elapsed >= rebuild_at:
            (docs / "harbour.txt").write_text(ADDED_DOCUMENT)
            rebuilder = threading.Thread(target=rebuild, args=(docs, index, rebuilt, clock))
            rebuilder.start()
            logger.info("rebuild started at %.1f s", elapsed)
        if elapsed >= next_rss:
            memory.samples.append((round(elapsed, 1), rss_kib(pid)))
            next_rss += RSS_EVERY
        time.sleep(0.05)
    clock.stopped = True
    seconds = clock.elapsed()
    memory.samples.append((round(seconds, 1), rss_kib(pid)))
    for thread in threads:
        thread.join(timeout=60)
    if rebuilder is not None:
        rebuilder.join()
    samples = sorted((s for out in per_client for s in out), key=lambda s: s.started)
    results: dict[str, Any] = {
        "seconds": round(seconds, 1),
        "all": summarise(samples, seconds),
        "by_kind": {kind: summarise([s for s in samples if s.kind == kind], seconds)
                    for kind in sorted({s.kind for s in samples})},
        "failures": [asdict(s) for s in samples if failed(s)][:50],
        "memory_kib": memory.samples,
        "rss_growth": round(memory.growth(), 4),
        "rss_growth_after_first_minute": round(memory.growth(60.0), 4),
    }
    if rebuild_at is not None:
        during = [s for s in samples if rebuilt.started <= s.started <= rebuilt.finished]
        results["rebuild"] = {
            "started_s": round(rebuilt.started, 1), "finished_s": round(rebuilt.finished, 1),
            "exit_code": rebuilt.exit_code, "generation": rebuilt.generation,
            "output": rebuilt.output[-2000:],
            "while_rebuilding": summarise(during, rebuilt.finished - rebuilt.started),
        }
        results["generations"] = generations_seen(samples, old_generation, rebuilt.generation)
    return results


def verdict(results: dict[str, Any]) -> list[str]:
    problems = []
    if results["all"]["failed"]:
        problems.append(f"{results['all']['failed']} failed requests")
    if results["service_log_errors"]:
        problems.append(f"{len(results['service_log_errors'])} error lines in the service log")
    if "rebuild" in results:
        rebuild_run, seen = results["rebuild"], results["generations"]
        if rebuild_run["exit_code"] != 0 or not rebuild_run["generation"]:
            problems.append("the rebuild did not publish a generation")
        elif seen["first_answer_from_new_s"] is None:
            problems.append("the service never answered from the new generation")
        elif seen["old_after_switch"] or seen["other"]:
            problems.append("answers from the old generation after the switch")
    if results["settings"]["soak"]:
        growth = results["rss_growth_after_first_minute"]
        if not growth < MAX_RSS_GROWTH:
            problems.append(f"memory grew {growth:.1%} after the first minute")
    return problems


def report(results: dict[str, Any]) -> str:
    settings = results["settings"]
    title = "Soak" if settings["soak"] else "Load"
    expensive = settings["expensive_clients"]
    clients = f"{settings['concurrency']} clients" + (
        f" and {expensive} sending expensive searches" if expensive else "")
    lines = [f"## {title}: {clients}, {results['seconds']} s", ""]
    header = ["requests", "kind", "failed", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
              "max ms"]
    rows = [_row(name, summary) for name, summary in
            [("all", results["all"]), *results["by_kind"].items()]]
    if "rebuild" in results:
        rows.append(_row("during the rebuild", results["rebuild"]["while_rebuilding"]))
    lines += [markdown_table(header, rows), ""]
    if "rebuild" in results:
        rebuilt, seen = results["rebuild"], results["generations"]
        lines.append(
            f"Rebuild from {rebuilt['started_s']} s to {rebuilt['finished_s']} s (exit "
            f"{rebuilt['exit_code']}), generation {rebuilt['generation']}; first answer from it "
            f"at {seen['first_answer_from_new_s']} s; answers: {seen['answers_from_old']} old, "
            f"{seen['answers_from_new']} new, {seen['old_after_switch']} old after the switch."
        )
    for kind, what in (("expensive", "Expensive searches"),
                       ("long_query", f"Real queries over {HEAVY_QUERY_CHARS} characters")):
        if kind in results["by_kind"]:
            statuses = results["by_kind"][kind]["statuses"]
            lines.append(f"{what}: {statuses.get('200', 0)} answered, "
                         f"{statuses.get('503', 0)} refused with 503 (no room for them).")
    samples = results["memory_kib"]
    lines.append(
        f"Service RSS: {samples[0][1] / 1024:.0f} MiB at the start, "
        f"{max(k for _, k in samples) / 1024:.0f} MiB at most, {samples[-1][1] / 1024:.0f} MiB "
        f"at the end: growth {results['rss_growth']:+.1%} from the start, "
        f"{results['rss_growth_after_first_minute']:+.1%} after the first minute."
    )
    before, after = results["machine_before"], results["machine_after"]
    lines.append(f"Load average before {before['load_average']}, after {after['load_average']}; "
                 f"{before['cpus_usable']} cores ({before['cpu_model']}).")
    return "\n".join(lines)


def _row(name: str, s: dict[str, Any]) -> list[object]:
    return [s["requests"], name, s["failed"], fmt(s["requests_per_s"]), s["p50_ms"],
            s["p90_ms"], s["p99_ms"], s["p999_ms"], s["max_ms"]]


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    main()
