"""What filters, facets and the query syntax cost a search, and where a filtered dense search
should stop scoring its subset exactly and search the vector index instead.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/filters.py [--queries 200] \
        [--synthetic 200000] [--markdown var/bench/filters.md] [--json var/bench/filters.json]

1. Search latency, in process (``Searcher.search``, hybrid mode, k=10) on the SciFact
   collection written as a folder of .txt files spread over ten subfolders (d0/ to d9/)
   with modification times spread over 100 days, indexed once into var/bench/filters-index
   (about 5 minutes of embedding the first time). Each query runs as: plain; facets=true;
   path=d3/ (a tenth of the documents); type=txt (all of them: the largest subset scored
   exactly); modified_after (about half of them); and the syntax "-the" (a condition on
   the passage text). Every query is embedded once before it is measured, so the numbers
   compare the work each variant adds to the same search (the query vector comes from the
   embedder's cache), in a rotated order per query so noise hits all alike.

2. The switch (``index.search.EXACT_SUBSET``): a synthetic index of N random unit vectors
   (384 dimensions, the default model's) built as "auto" builds it at that size (HNSW
   over 16-bit floats), and subsets of 1% to 100% of it. For each, the time of
   ``index.search.dense_candidates`` scoring the subset exactly and searching the index
   deeper until CANDIDATES of the subset are found, and as configured (EXACT_SUBSET and
   INDEX_SHARE choose, the exact scoring taking over when the index gives too few).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    base_config,
    fmt,
    load_like_service,
    machine_state,
    markdown_table,
    percentile,
    setup_logging,
    write_outputs,
)

from index import IndexFolder, SearchRequest, build_index  # noqa: E402
from index.search import CANDIDATES, dense_candidates  # noqa: E402
from index.vectors.auto import resolve_factory  # noqa: E402
from index.vectors.faiss import FaissIndex, build_faiss_index  # noqa: E402

SCIFACT = REPO.parent / "shared" / "eval" / "scifact"
INDEX = REPO / "var" / "bench" / "filters-index"
DAY = 86_400
START = 1_700_000_000  # 2023-11-14: the oldest file's modification time
HALF = "2024-01-04"  # about half of the files are modified after it


def write_folder(docs: Path) -> None:
    """SciFact's documents as .txt files in d0/ .. d9/, modified over 100 days."""
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    for i, record in enumerate(records):
        path = docs / f"d{i % 10}" / f"{record['_id']}.txt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{record.get('title', '')}\n\n{record['text']}\n", encoding="utf-8")
        when = START + (i * 100 // len(records)) * DAY
        os.utime(path, (when, when))


def latency(queries: list[str]) -> tuple[list[list[Any]], dict[str, Any]]:
    docs = INDEX.parent / "filters-docs"
    write_folder(docs)
    config = base_config(docs_dir=docs, index_dir=INDEX)
    build_index(config, progress=True)
    loaded = load_like_service(INDEX)
    searcher = loaded.searcher
    variants: dict[str, dict[str, Any]] = {
        "plain": {},
        "facets=true": {"facets": True},
        "path=d3/ (10% of documents)": {"paths": ("d3/",)},
        "type=txt (all, scored exactly)": {"types": ("txt",)},
        f"modified_after={HALF} (~50%)": {"modified_after": HALF},
        'syntax "-the" (text condition)': {"excluded": ("the",)},
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i, query in enumerate(queries):
        loaded.embedder.embed_query(query)  # cached from now on: the same vector for all
        for name in names[i % len(names):] + names[: i % len(names)]:
            started = time.perf_counter()
            searcher.search(SearchRequest(query, **variants[name]))
            times[name].append((time.perf_counter() - started) * 1000)
    base = percentile(times["plain"], 50)
    rows = [[name, fmt(percentile(t, 50), 2), fmt(percentile(t, 95), 2),
             fmt(percentile(t, 50) - base, 2)] for name, t in times.items()]
    generation = IndexFolder(INDEX).current()
    info = {"passages": searcher.passage_count, "documents": searcher.document_count,
            "generation": generation.name,
            "ms": {name: {"p50": percentile(t, 50), "p95": percentile(t, 95)}
                   for name, t in times.items()}}
    return rows, info


def switch(count: int, repeats: int = 5) -> tuple[list[list[Any]], dict[str, Any]]:
    rng = np.random.default_rng(7)
    raw = rng.standard_normal((count, 384)).astype(np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    factory = resolve_factory("auto", count)
    started = time.perf_counter()
    vectors = FaissIndex(build_faiss_index(raw, factory), raw)
    built = time.perf_counter() - started
    queries = rng.standard_normal((repeats, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows, info = [], {"count": count, "factory": factory, "build_seconds": built, "shares": {}}
    import index.search as search

    for share in (0.01, 0.05, 0.1, 0.25, 0.5, 1.0):
        allowed = sorted(random.Random(share).sample(range(1, count + 1), int(count * share)))
        measured = {}
        defaults = search.EXACT_SUBSET, search.INDEX_SHARE
        for way, limit, share_needed in (("exact", count + 1, 1.0), ("index", 0, 0.0),
                                         ("default", *defaults)):
            search.EXACT_SUBSET, search.INDEX_SHARE = limit, share_needed
            ms = []
            for query in queries:
                started = time.perf_counter()
                found = dense_candidates(vectors, query, allowed)
                ms.append((time.perf_counter() - started) * 1000)
            measured[way] = (percentile(ms, 50), len(found))
        info["shares"][share] = {way: {"ms_p50": m, "found": n} for way, (m, n) in
                                 measured.items()}
        rows.append([f"{share:.0%} ({len(allowed):,})", fmt(measured["exact"][0], 1),
                     fmt(measured["index"][0], 1), measured["index"][1],
                     fmt(measured["default"][0], 1), measured["default"][1]])
    return rows, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--synthetic", type=int, default=200_000,
                        help="vectors in the synthetic index (0: skip part 2)")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setup_logging()
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        queries = [json.loads(line)["text"] for line in f if line.strip()][: args.queries]
    rows, info = latency(queries)
    report = [f"Search latency, in process, hybrid, k=10, {info['documents']:,} documents / "
              f"{info['passages']:,} passages, {len(queries)} queries (ms):", "",
              markdown_table(["variant", "p50", "p95", "p50 - plain"], rows)]
    results: dict[str, Any] = {"machine": machine_state(), "latency": info}
    if args.synthetic:
        switch_rows, switch_info = switch(args.synthetic)
        report += ["", f"A filtered dense search over {args.synthetic:,} random vectors "
                   f"({switch_info['factory']}, built in {switch_info['build_seconds']:.0f} s),"
                   f" {CANDIDATES} candidates asked for, ms p50:", "",
                   markdown_table(["allowed subset", "scored exactly", "through the index",
                                   "found through the index", "as configured", "found"],
                                  switch_rows)]
        results["switch"] = switch_info
    write_outputs("\n".join(report), results, args.markdown, args.json)


if __name__ == "__main__":
    main()
