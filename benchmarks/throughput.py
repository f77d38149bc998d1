"""Throughput: requests/s of the real service over HTTP at several concurrencies, with wrk.

    command -v wrk || apt-get install -y wrk
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/throughput.py --duration 10 --rounds 2 \
        --markdown var/bench/throughput.md --json var/bench/throughput.json

What: ``python -m service --threads T`` (waitress request threads T = 2, 4, 8) serving the
5-document sample corpus (indexed into a temporary folder), loaded by ``wrk`` (Debian's, a
C load generator) at 1, 4, 8 and 16 keep-alive connections for --duration seconds each:
requests/s, wrk's latency p50/p99, and errors (non-2xx replies, counted by the Lua script,
plus wrk's connect/read/write/timeout socket errors).

How:
  * every request is a different query: a Lua script rotates through GET
    ``/api/search?q=...&k=10`` URLs of ~4,000 distinct real queries (sample, seed, SciFact,
    NFCorpus), continuing where the previous run against the same server stopped, so a
    query comes back only after more distinct queries than the service's query-vector
    cache holds: the service never answers from that cache.
  * the baseline, in the same run and interleaved: before every wrk run, --inprocess-queries
    fresh queries through ``Searcher.search`` in this process (loaded like the service, same
    query backend), one at a time, while the service is idle; their median is the in-process
    p50 of the target.
  * rounds: each round visits every (threads, concurrency) cell, in an order rotated per
    round, a fresh service per thread count with a short unmeasured wrk warm-up; the table
    gives the median over rounds.
  * wrk runs 1 thread (--wrk-threads): on 2 cores the load generator competes with the
    service, and one event-loop thread drives 16 connections at these rates.

Target (issue 5): requests/s at concurrency 8 >= 0.5 x (cores / in-process p50).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from common import (
    NFCORPUS_QUERIES,
    SAMPLE_QUERY_FILES,
    SCIFACT_QUERIES,
    QueryPool,
    Service,
    build_sample_index,
    describe_backend,
    distinct,
    fmt,
    load_like_service,
    machine_state,
    markdown_table,
    read_queries,
    report_options,
    search_path,
    service_embedder,
    setup_logging,
    write_outputs,
)
from tqdm import tqdm

from index import Searcher, SearchRequest

logger = logging.getLogger("bench.throughput")

TARGET_CONCURRENCY = 8
TARGET_FACTOR = 0.5

# wrk calls request() for every request it sends; each thread walks its own residue class of
# the URL list (thread t takes start + t, start + t + n, ...), so no two requests repeat.
# response() counts replies outside 2xx (wrk's own "status" error counts only >= 400).
LUA = r"""
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  start = tonumber(args[2])
  nthreads = tonumber(args[3])
  sent = 0
  non2xx = 0
end

function request()
  local i = (start + tid + sent * nthreads) % #paths + 1
  sent = sent + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local non2xx_total, sent_max = 0, 0
  for _, t in ipairs(threads) do
    non2xx_total = non2xx_total + t:get("non2xx")
    sent_max = math.max(sent_max, t:get("sent"))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "non2xx": %d, "sent_max": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    non2xx_total, sent_max, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class WrkRun:
    threads: int  # service request threads
    concurrency: int
    round: int
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int  # connect + read + write + timeout

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


class Wrk:
    """Runs wrk against one service, continuing the URL rotation from run to run."""

    def __init__(self, lua: Path, paths_file: Path, n_paths: int, wrk_threads: int,
                 timeout: int) -> None:
        self.lua, self.paths_file, self.n_paths = lua, paths_file, n_paths
        self.wrk_threads, self.timeout = wrk_threads, timeout
        self.cursor = 0

    def run(self, port: int, concurrency: int, seconds: int) -> dict[str, Any]:
        threads = min(self.wrk_threads, concurrency)  # wrk wants connections >= threads
        command = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s",
                   "--timeout", f"{self.timeout}s", "-s", str(self.lua),
                   f"http://127.0.0.1:{port}", "--", str(self.paths_file), str(self.cursor),
                   str(threads)]
        logger.debug("%s", " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
        logger.debug("wrk output:\n%s", done.stdout)
        result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
        self.cursor = (self.cursor + result["sent_max"] * threads) % self.n_paths
        return result


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--concurrency", "concurrencies", multiple=True, type=click.IntRange(1, 256),
              help="wrk connections (repeatable).  [default: 1 4 8 16]")
@click.option("--server-threads", "server_threads", multiple=True, type=click.IntRange(1, 64),
              help="Service --threads values to try (repeatable).  [default: 2 4 8]")
@click.option("--duration", type=click.IntRange(1), default=10, show_default=True,
              help="Seconds per wrk run.")
@click.option("--rounds", type=click.IntRange(1), default=2, show_default=True,
              help="Times every (threads, concurrency) cell is run; medians are reported.")
@click.option("--warmup", type=click.IntRange(0), default=2, show_default=True,
              help="Seconds of unmeasured wrk load on each freshly started service.")
@click.option("--inprocess-queries", type=click.IntRange(1), default=20, show_default=True,
              help="In-process searches before each wrk run (the baseline).")
@click.option("--wrk-threads", type=click.IntRange(1), default=1, show_default=True,
              help="wrk threads (at most the concurrency).")
@click.option("--timeout", type=click.IntRange(1), default=5, show_default=True,
              help="wrk request timeout in seconds; a slower reply counts as an error.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Results per search.")
@report_options(verbose_help="Debug logging (wrk's own output too).")
def main(concurrencies: tuple[int, ...], server_threads: tuple[int, ...], duration: int,
         rounds: int, warmup: int, inprocess_queries: int, wrk_threads: int, timeout: int,
         k: int, markdown_out: Path | None, json_out: Path | None, verbose: bool) -> None:
    """Requests/s over HTTP with wrk at several concurrencies and service thread counts."""
    setup_logging(verbose)
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed: apt-get install -y wrk")
    concurrencies = concurrencies or (1, 4, 8, 16)
    server_threads = server_threads or (2, 4, 8)
    queries = distinct(
        [q for f in SAMPLE_QUERY_FILES for q in read_queries(f)]
        + read_queries(SCIFACT_QUERIES) + read_queries(NFCORPUS_QUERIES)
    )
    cores = len(os.sched_getaffinity(0))
    state_before = machine_state()
    runs: list[WrkRun] = []
    inprocess_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        tmp_dir = Path(tmp)
        paths_file = tmp_dir / "paths.txt"
        paths_file.write_text("".join(search_path(q, k) + "\n" for q in queries))
        lua = tmp_dir / "rotate.lua"
        lua.write_text(LUA)
        embedder = service_embedder(tmp_dir / "empty")
        backend = describe_backend(embedder)
        logger.info("query backend of the embedder: %s", backend)
        index_dir = build_sample_index(tmp_dir / "sample", embedder)
        searcher = load_like_service(index_dir, embedder).searcher
        pool = QueryPool()  # this process's query-vector cache; the in-process queries
        cells = len(server_threads) * len(concurrencies)
        with tqdm(total=rounds * cells, desc="wrk runs", unit="run") as bar:
            for r in range(rounds):
                for threads in _rotated(server_threads, r):
                    wrk = Wrk(lua, paths_file, len(queries), wrk_threads, timeout)
                    with Service(index_dir, threads, log_dir=tmp_dir) as service:
                        if warmup:
                            wrk.run(service.port, max(concurrencies), warmup)
                        for concurrency in _rotated(concurrencies, r):
                            inprocess_ms += _inprocess(searcher, pool, queries,
                                                       inprocess_queries, k)
                            result = wrk.run(service.port, concurrency, duration)
                            runs.append(_wrk_run(threads, concurrency, r, result))
                            logger.info("threads %d, concurrency %d: %.1f req/s, %d errors",
                                        threads, concurrency, runs[-1].requests_per_s,
                                        runs[-1].errors)
                            bar.update()
    report = _report(runs, inprocess_ms, cores, backend, state_before, machine_state(), {
        "duration_s": duration, "rounds": rounds, "warmup_s": warmup, "k": k,
        "inprocess_queries_per_run": inprocess_queries, "wrk_threads": wrk_threads,
        "wrk_timeout_s": timeout, "distinct_queries": len(queries),
    })
    write_outputs(_markdown(report), report, markdown_out, json_out)


def _rotated(values: tuple[int, ...], shift: int) -> tuple[int, ...]:
    shift %= len(values)
    return values[shift:] + values[:shift]


def _inprocess(searcher: Searcher, pool: QueryPool, queries: list[str], n: int,
               k: int) -> list[float]:
    """Latencies (ms) of ``n`` fresh queries searched one at a time in this process."""
    latencies = []
    for query in pool.take(n, [queries]):
        started = time.perf_counter()
        searcher.search(SearchRequest(query, k))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _wrk_run(threads: int, concurrency: int, r: int, result: dict[str, Any]) -> WrkRun:
    seconds = result["duration_us"] / 1e6
    return WrkRun(
        threads=threads, concurrency=concurrency, round=r, requests=result["requests"],
        seconds=seconds, requests_per_s=result["requests"] / seconds,
        p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
        non2xx=result["non2xx"],
        socket_errors=sum(result[key] for key in ("connect", "read", "write", "timeout")),
    )


def _report(runs: list[WrkRun], inprocess_ms: list[float], cores: int, backend: str,
            before: dict[str, Any], after: dict[str, Any],
            settings: dict[str, Any]) -> dict[str, Any]:
    inprocess_p50 = statistics.median(inprocess_ms)
    target = TARGET_FACTOR * cores / (inprocess_p50 / 1000)
    cells: dict[tuple[int, int], list[WrkRun]] = {}
    for run in runs:
        cells.setdefault((run.threads, run.concurrency), []).append(run)
    table = [
        {
            "server_threads": threads, "concurrency": concurrency,
            "requests_per_s": statistics.median(r.requests_per_s for r in rs),
            "p50_ms": statistics.median(r.p50_ms for r in rs),
            "p99_ms": statistics.median(r.p99_ms for r in rs),
            "requests": sum(r.requests for r in rs),
            "non2xx": sum(r.non2xx for r in rs),
            "socket_errors": sum(r.socket_errors for r in rs),
        }
        for (threads, concurrency), rs in sorted(cells.items())
    ]
    at_target = [row for row in table if row["concurrency"] == TARGET_CONCURRENCY]
    best = max(at_target, key=lambda row: row["requests_per_s"]) if at_target else None
    return {
        "benchmark": "throughput",
        "settings": settings,
        "query_backend": backend,
        "cores": cores,
        "inprocess_p50_ms": inprocess_p50,
        "inprocess_n": len(inprocess_ms),
        "target_requests_per_s": target,
        "best_server_threads_at_c8": best["server_threads"] if best else None,
        "machine_before": before,
        "machine_after": after,
        "table": table,
        "runs": [asdict(run) for run in runs],
    }


def _markdown(report: dict[str, Any]) -> str:
    before, after, settings = report["machine_before"], report["machine_after"], report["settings"]
    target = report["target_requests_per_s"]
    lines = [
        "## Throughput",
        "",
        f"Sample corpus, query backend **{report['query_backend']}**, {report['cores']} CPUs "
        f"({before['cpu_model']}); load average {before['load_average']} before, "
        f"{after['load_average']} after; wrk {settings['wrk_threads']} thread(s), "
        f"{settings['duration_s']} s per run, median of {settings['rounds']} round(s); "
        f"{settings['distinct_queries']} distinct queries rotated. In-process hybrid search "
        f"p50 {report['inprocess_p50_ms']:.1f} ms (n={report['inprocess_n']}, interleaved "
        f"with the wrk runs).",
        "",
    ]
    rows = [
        [row["server_threads"], row["concurrency"], fmt(row["requests_per_s"]),
         fmt(row["p50_ms"]), fmt(row["p99_ms"]), row["requests"], row["non2xx"],
         row["socket_errors"], fmt(row["requests_per_s"] / target, 2)]
        for row in report["table"]
    ]
    lines.append(markdown_table(
        ["service threads", "concurrency", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx",
         "socket errors", "req/s / target"], rows))
    lines += ["", f"Target: req/s at concurrency {TARGET_CONCURRENCY} >= {TARGET_FACTOR} x "
                  f"{report['cores']} cores / {report['inprocess_p50_ms']:.1f} ms = "
                  f"**{target:.1f} req/s**, with 0 errors."]
    for row in report["table"]:
        if row["concurrency"] == TARGET_CONCURRENCY:
            errors = row["non2xx"] + row["socket_errors"]
            ok = row["requests_per_s"] >= target and errors == 0
            lines.append(f"- service threads {row['server_threads']}: "
                         f"{row['requests_per_s']:.1f} req/s, {errors} errors: "
                         f"{'met' if ok else 'NOT met'}")
    if report["best_server_threads_at_c8"] is not None:
        lines.append(f"\nBest service thread count at concurrency {TARGET_CONCURRENCY}: "
                     f"**{report['best_server_threads_at_c8']}**.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
