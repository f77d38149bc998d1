"""Query latency p50/p99: in-process search and over HTTP, next to a bare torch encode.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/query_latency.py \
        --queries 250 --markdown var/bench/query_latency.md --json var/bench/query_latency.json

What it measures, on each dataset (the 5-document sample corpus, indexed into a temporary
folder, and a private copy of the prebuilt SciFact index, var/eval/scifact/index):

  torch encode      ``SentenceTransformer(model_path).encode([q])``, progress bar off: the
                    bare model call a search replaces, torch with its default thread count
                    (the baseline)
  in-process hybrid ``Searcher.search(SearchRequest(q))`` in the default (hybrid) mode
  in-process dense  ``Searcher.search(SearchRequest(q2, mode="dense"))``
  HTTP hybrid       ``GET /api/search?q=...&k=10`` to the real service (``python -m service``
                    in a subprocess) over one keep-alive connection, body read; also the
                    service's own ``took_ms`` for the same requests

How: per step i the four calls run back to back in a rotated order (step i starts at call
i mod 4), so drift and noise from other jobs hit all of them alike; a short pause separates
calls so worker threads spinning after one call do not bill the next. Every query text is
used at most once per process (the embedder caches query vectors, and a cache hit would
measure a dictionary, not the model): torch, in-process hybrid and HTTP get the same query
q (the plain model has no cache, the service has its own), in-process dense another, q2.

Queries: for the sample corpus eval/sample_queries.jsonl and the shared seed queries, then
SciFact queries from the end of the file; for SciFact, SciFact queries from the start (1,109
in all: above --queries 250 the SciFact run gets NFCorpus queries for the rest). The
in-process searcher and the service load the model the way the service is configured
(``create_app``), so they use its query backend, the setting ``query_backend``: e.g.
``SEARCH_QUERY_BACKEND=torch`` measures the torch fallback.

torch runs with its default thread count (one per core) unless --torch-threads is given;
when other jobs hold the cores, 2-thread torch calls stall (~20x slower at the median), which
flatters every ratio: run on an idle machine, or add a run with --torch-threads 1.

Output: a Markdown table (p50, p99, ratio of p50s to the torch encode p50 and the median of
per-query ratios) on stdout, optionally to --markdown and --json files. Target (issue 5):
HTTP p50 on the sample corpus <= 0.6 x torch encode p50.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from common import (
    SCIFACT_INDEX,
    HttpClient,
    QueryPool,
    Service,
    build_sample_index,
    copy_index,
    describe_backend,
    fmt,
    load_like_service,
    machine_state,
    markdown_table,
    percentile,
    query_sources,
    report_options,
    search_path,
    service_embedder,
    setup_logging,
    write_outputs,
)
from tqdm import tqdm

from index import Searcher, SearchRequest

logger = logging.getLogger("bench.query_latency")

DATASETS = ("sample", "scifact")
TORCH, HYBRID, DENSE, HTTP = "torch encode", "in-process hybrid", "in-process dense", "HTTP hybrid"
SERVER_TOOK = "HTTP hybrid, server took_ms"
CALLS = (TORCH, HYBRID, DENSE, HTTP)
TARGET_RATIO = 0.6


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--queries", "n_queries", type=click.IntRange(10), default=250, show_default=True,
              help="Measured steps per dataset (each uses 2 fresh queries).")
@click.option("--warmup", type=click.IntRange(0), default=10, show_default=True,
              help="Unmeasured steps per dataset first.")
@click.option("--dataset", "datasets", multiple=True, type=click.Choice(DATASETS),
              help="Datasets to run (repeatable).  [default: sample and scifact]")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Results per search.")
@click.option("--scifact-index", type=click.Path(path_type=Path, file_okay=False),
              default=SCIFACT_INDEX, show_default=True,
              help="SciFact index folder; its live generation is copied, never modified.")
@click.option("--server-threads", type=click.IntRange(1, 64),
              help="Service request threads (--threads).  [default: the service's]")
@click.option("--torch-threads", type=click.IntRange(1),
              help="torch threads for the baseline (and a torch query backend).  "
                   "[default: torch's own, one per core]")
@click.option("--gap-ms", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Pause before each measured call.")
@report_options(json_help="Also write the results (raw latencies included) as JSON here.")
def main(n_queries: int, warmup: int, datasets: tuple[str, ...], k: int, scifact_index: Path,
         server_threads: int | None, torch_threads: int | None, gap_ms: float,
         markdown_out: Path | None, json_out: Path | None, verbose: bool) -> None:
    """Query latency p50/p99 in-process and over HTTP against a bare torch encode."""
    setup_logging(verbose)
    if torch_threads is not None:
        import torch

        # Under load from other jobs, torch with one thread per core stalls (each thread
        # waits for the slowest); 1 thread shows the model call without that effect.
        torch.set_num_threads(torch_threads)
    datasets = datasets or DATASETS
    sources = query_sources()
    state_before = machine_state()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        tmp_dir = Path(tmp)
        # One model for both indexes, loaded as the service loads it.
        embedder = service_embedder(tmp_dir / "empty")
        backend = describe_backend(embedder)
        logger.info("query backend of the embedder: %s", backend)
        indexes: dict[str, tuple[Path, Searcher]] = {}
        for name in datasets:
            if name == "scifact":
                index_dir = copy_index(scifact_index, tmp_dir / "scifact")
            else:
                index_dir = build_sample_index(tmp_dir / "sample", embedder)
            indexes[name] = (index_dir, load_like_service(index_dir, embedder).searcher)

        from sentence_transformers import SentenceTransformer

        # The baseline: the plain model, torch, default threads, nothing of ours around it.
        plain = SentenceTransformer(str(embedder.info.path), device="cpu")
        pool = QueryPool()  # this process's query-vector cache
        results: dict[str, Any] = {}
        for name in datasets:
            index_dir, searcher = indexes[name]
            queries = pool.take(2 * (warmup + n_queries), sources[name])
            with Service(index_dir, server_threads, log_dir=tmp_dir) as service:
                http = HttpClient(service.port)
                try:
                    measured = _measure(plain, searcher, http, queries, warmup, k,
                                        gap_ms / 1000, name)
                finally:
                    http.close()
            results[name] = {"documents": searcher.document_count,
                             "passages": searcher.passage_count, **measured}
    state_after = machine_state()
    report = {
        "benchmark": "query_latency",
        "settings": {"queries": n_queries, "warmup": warmup, "k": k, "gap_ms": gap_ms,
                     "torch_threads": torch_threads or "torch default",
                     "server_threads": server_threads or "service default"},
        "query_backend": backend,
        "machine_before": state_before,
        "machine_after": state_after,
        "datasets": results,
    }
    write_outputs(_markdown(report), report, markdown_out, json_out)


def _http_search(http: HttpClient, path: str) -> float:
    """One request; the service's took_ms. Raises on a non-200 answer."""
    status, body = http.get(path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
    return float(json.loads(body)["took_ms"])


def _measure(plain: Any, searcher: Searcher, http: HttpClient, queries: list[str],
             warmup: int, k: int, gap: float, name: str) -> dict[str, Any]:
    """Run every call once per step in rotated order; latencies in ms per call."""
    calls: dict[str, Callable[[str, str], Any]] = {
        TORCH: lambda q, q2: plain.encode([q], show_progress_bar=False),
        HYBRID: lambda q, q2: searcher.search(SearchRequest(q, k)),
        DENSE: lambda q, q2: searcher.search(SearchRequest(q2, k, mode="dense")),
        HTTP: lambda q, q2: _http_search(http, search_path(q, k)),
    }
    latencies: dict[str, list[float]] = {call: [] for call in CALLS}
    server_took: list[float] = []
    steps = len(queries) // 2
    for i in tqdm(range(steps), desc=f"{name} queries", unit="step", leave=False):
        q, q2 = queries[2 * i], queries[2 * i + 1]
        shift = i % len(CALLS)
        for call in CALLS[shift:] + CALLS[:shift]:
            time.sleep(gap)
            started = time.perf_counter()
            value = calls[call](q, q2)
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                latencies[call].append(elapsed)
                if call == HTTP:
                    server_took.append(value)
    torch_ms = latencies[TORCH]
    torch_p50 = statistics.median(torch_ms)
    summary: dict[str, Any] = {}
    for call, values in [*latencies.items(), (SERVER_TOOK, server_took)]:
        paired = [v / t for v, t in zip(values, torch_ms, strict=True)]
        summary[call] = {
            "n": len(values),
            "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99),
            "ratio_p50_to_torch_p50": statistics.median(values) / torch_p50,
            "median_paired_ratio_to_torch": statistics.median(paired),
            "latencies_ms": [round(v, 3) for v in values],
        }
    return summary


def _markdown(report: dict[str, Any]) -> str:
    before, after = report["machine_before"], report["machine_after"]
    threads_origin = ("its default" if report["settings"]["torch_threads"] == "torch default"
                      else "--torch-threads")
    lines = [
        "## Query latency",
        "",
        f"Query backend (service and in-process): **{report['query_backend']}**; torch "
        f"{before['torch']} with {before['torch_threads']} threads ({threads_origin}) for the "
        f"baseline; {before['cpus_usable']} CPUs ({before['cpu_model']}); load average "
        f"{before['load_average']} before, {after['load_average']} after; "
        f"{report['settings']['queries']} measured queries per dataset after "
        f"{report['settings']['warmup']} warm-up, k={report['settings']['k']}, server threads "
        f"{report['settings']['server_threads']}. Indexes: "
        + ", ".join(f"{name} {r['documents']} documents, {r['passages']} passages"
                    for name, r in report["datasets"].items()) + ".",
        "",
    ]
    rows = []
    for name, result in report["datasets"].items():
        for call in (*CALLS, SERVER_TOOK):
            r = result[call]
            rows.append([name, call, r["n"], fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                         fmt(r["ratio_p50_to_torch_p50"], 2),
                         fmt(r["median_paired_ratio_to_torch"], 2)])
    lines.append(markdown_table(
        ["dataset", "measured", "n", "p50 ms", "p99 ms", "p50 / torch p50",
         "median per-query ratio"], rows))
    if "sample" in report["datasets"]:
        ratio = report["datasets"]["sample"][HTTP]["ratio_p50_to_torch_p50"]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        lines += ["", f"Target: HTTP p50 / torch encode p50 on the sample corpus = "
                      f"{ratio:.2f} (<= {TARGET_RATIO}): **{verdict}**."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
