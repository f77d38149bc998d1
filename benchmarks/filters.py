"""What filters, facets, highlights and the query syntax cost a search, whether plain search
got slower than before them, and where a filtered dense search should stop scoring its
subset exactly and search the vector index instead.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/filters.py [--corpus scifact|sample] \
        [--queries 200] [--baseline 8a19bd8 --rounds 3] [--synthetic 200000] \
        [--markdown var/bench/filters.md] [--json var/bench/filters.json]

1. Search latency, in process (``Searcher.search``, hybrid mode, k=10) on a corpus written
   as a folder of .txt files spread over ten subfolders (d0/ to d9/) with modification
   times spread over 100 days: SciFact's (indexed once into var/bench/filters-index, about
   5 minutes of embedding the first time) or the sample corpus's five documents (indexed
   into a temporary folder). Each query runs as: plain; facets=true; highlights=true;
   path=d3/; type=txt (all of them: the largest subset scored exactly); modified_after
   (about half of them); the syntax "-the" (a condition on the passage text); and
   path=d3/ with facets and highlights. Every query is embedded once before it is
   measured, so the numbers compare the work each variant adds to the same search (the
   query vector comes from the embedder's cache), in a shuffled order per query so noise
   hits all alike (rotated, the same variant always came right after one with highlights,
   whose model threads slowed it: plain search took twice as long as alone).

2. With ``--baseline REF``: plain search (the same queries, embedded first, then timed)
   in separate processes, alternately the code at REF (a ``git worktree`` of it, in a
   temporary folder) and this checkout, ``--rounds`` times each. Each side indexes the
   same folder with its own code first (an older commit may not read today's index).

3. The switch (``index.search.EXACT_SUBSET``): a synthetic index of N random unit vectors
   (384 dimensions, the default model's) built as "auto" builds it at that size (HNSW
   over 16-bit floats), and subsets of 1% to 100% of it. For each, the time of
   ``index.search.dense_candidates`` scoring the subset exactly and searching the index
   deeper until CANDIDATES of the subset are found, and as configured (EXACT_SUBSET and
   INDEX_SHARE choose, the exact scoring taking over when the index gives too few).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    SAMPLE_CORPUS,
    base_config,
    fmt,
    load_like_service,
    machine_state,
    markdown_table,
    percentile,
    query_sources,
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


Record = tuple[str, str]  # (file name, text)


def scifact_records() -> list[Record]:
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(f"{r['_id']}.txt", f"{r.get('title', '')}\n\n{r['text']}\n") for r in rows]


def sample_records() -> list[Record]:
    return [(path.name, path.read_text(encoding="utf-8"))
            for path in sorted(SAMPLE_CORPUS.glob("*.txt"))]


def write_folder(records: list[Record], docs: Path) -> None:
    """The documents as .txt files in d0/ .. d9/, modified over 100 days."""
    for i, (name, text) in enumerate(records):
        path = docs / f"d{i % 10}" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        when = START + (i * 100 // len(records)) * DAY
        os.utime(path, (when, when))


def variants(records: list[Record]) -> dict[str, dict[str, Any]]:
    """The requests compared, labelled with the share of documents each filter keeps."""
    n = len(records)
    in_d3 = len(range(3, n, 10)) / n
    half = calendar.timegm(time.strptime(HALF, "%Y-%m-%d"))
    after = sum(START + (i * 100 // n) * DAY > half for i in range(n)) / n
    return {
        "plain": {},
        "facets=true": {"facets": True},
        "highlights=true": {"highlights": True},
        f"path=d3/ ({in_d3:.0%} of documents)": {"paths": ("d3/",)},
        "type=txt (all, scored exactly)": {"types": ("txt",)},
        f"modified_after={HALF} ({after:.0%})": {"modified_after": HALF},
        'syntax "-the" (text condition)': {"excluded": ("the",)},
        "path=d3/ + facets + highlights": {"paths": ("d3/",), "facets": True,
                                            "highlights": True},
    }


def latency(queries: list[str], records: list[Record], docs: Path,
            index_dir: Path) -> tuple[list[list[Any]], dict[str, Any]]:
    write_folder(records, docs)
    config = base_config(docs_dir=docs, index_dir=index_dir)
    build_index(config, progress=True)
    loaded = load_like_service(index_dir)
    searcher = loaded.searcher
    compared = variants(records)
    times: dict[str, list[float]] = {name: [] for name in compared}
    names = list(compared)
    for i, query in enumerate(queries):
        loaded.embedder.embed_query(query)  # cached from now on: the same vector for all
        random.Random(i).shuffle(names)  # no variant always right after another
        for name in names:
            started = time.perf_counter()
            searcher.search(SearchRequest(query, **compared[name]))
            times[name].append((time.perf_counter() - started) * 1000)
    base = percentile(times["plain"], 50)
    rows = [[name, fmt(percentile(t, 50), 2), fmt(percentile(t, 95), 2),
             fmt(percentile(t, 50) - base, 2)] for name, t in times.items()]
    generation = IndexFolder(index_dir).current()
    info = {"passages": searcher.passage_count, "documents": searcher.document_count,
            "generation": generation.name,
            "ms": {name: {"p50": percentile(t, 50), "p95": percentile(t, 95)}
                   for name, t in times.items()}}
    return rows, info


# Run by each side of --baseline with that side's checkout first on sys.path: only names
# both the old and the new code have (benchmarks/common.py's base_config and
# load_like_service, index's build_index and SearchRequest).
PLAIN_SEARCH = """
import json, sys, time
checkout, docs, index_dir, queries_file = sys.argv[1:5]
sys.path.insert(0, checkout + "/benchmarks")
from pathlib import Path
from common import base_config, load_like_service
from index import SearchRequest, build_index
if not (Path(index_dir) / "CURRENT").exists():
    build_index(base_config(docs_dir=Path(docs), index_dir=Path(index_dir)))
loaded = load_like_service(Path(index_dir))
queries = json.loads(Path(queries_file).read_text())
ms = []
for query in queries:
    loaded.embedder.embed_query(query)
    started = time.perf_counter()
    loaded.searcher.search(SearchRequest(query))
    ms.append((time.perf_counter() - started) * 1000)
print(json.dumps({"ms": ms, "passages": loaded.searcher.passage_count}))
"""


def baseline(ref: str, rounds: int, queries: list[str], docs: Path,
             head_index: Path, work: Path) -> tuple[list[list[Any]], dict[str, Any]]:
    """Plain search at ``ref`` and here, each in its own processes, alternately."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref],
                            check=True, capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    tree = work / "baseline-checkout"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True)
    queries_file = work / "queries.json"
    queries_file.write_text(json.dumps(queries))
    sides = {f"before ({commit})": (tree, work / "baseline-index"),
             f"after ({head}, HEAD)": (REPO, head_index)}
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for round_ in range(rounds):
            for side in list(sides) if round_ % 2 == 0 else list(sides)[::-1]:
                checkout, index_dir = sides[side]
                # cwd: this checkout, so both sides share var/cache (the exported model).
                out = subprocess.run(
                    [sys.executable, "-c", PLAIN_SEARCH, str(checkout), str(docs),
                     str(index_dir), str(queries_file)],
                    check=True, capture_output=True, text=True, cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(checkout)})
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs[side].append({"p50": percentile(result["ms"], 50),
                                   "p95": percentile(result["ms"], 95),
                                   "passages": result["passages"]})
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)
    rows = [[side, runs[side][0]["passages"],
             " / ".join(fmt(r["p50"], 3) for r in runs[side]),
             " / ".join(fmt(r["p95"], 3) for r in runs[side]),
             fmt(statistics.median(r["p50"] for r in runs[side]), 3)] for side in runs]
    return rows, {"ref": commit, "head": head, "rounds": rounds, "runs": runs}


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
    parser.add_argument("--corpus", choices=("scifact", "sample"), default="scifact")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passes", type=int, default=1,
                        help="times the queries are run (the sample corpus has 70)")
    parser.add_argument("--baseline", metavar="REF",
                        help="also time plain search at this commit against HEAD")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per side with --baseline")
    parser.add_argument("--synthetic", type=int, default=200_000,
                        help="vectors in the synthetic index (0: skip part 3)")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setup_logging()
    if args.corpus == "scifact":
        with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
            queries = [json.loads(line)["text"] for line in f if line.strip()]
        records = scifact_records()
    else:
        queries = query_sources()["sample"][0]  # its questions only
        records = sample_records()
    queries = list(dict.fromkeys(queries))[: args.queries] * args.passes
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        work = Path(tmp)
        docs, index_dir = ((INDEX.parent / "filters-docs", INDEX) if args.corpus == "scifact"
                           else (work / "docs", work / "index"))
        state = machine_state()
        rows, info = latency(queries, records, docs, index_dir)
        report = [f"{args.corpus}: search latency, in process, hybrid, k=10, "
                  f"{info['documents']:,} documents / {info['passages']:,} passages, "
                  f"{len(queries)} searches each (ms); load average {state['load_average']}:", "",
                  markdown_table(["variant", "p50", "p95", "p50 - plain"], rows)]
        results: dict[str, Any] = {"machine": state, "corpus": args.corpus, "latency": info}
        if args.baseline:
            base_rows, base_info = baseline(args.baseline, args.rounds, queries, docs,
                                            index_dir, work)
            report += ["", f"Plain search (hybrid, k=10, cached query vectors), "
                       f"{len(queries)} searches, one process a run, runs alternating "
                       f"(load average {machine_state()['load_average']} after), ms:", "",
                       markdown_table(["code", "passages", "p50 of each run",
                                       "p95 of each run", "median p50"], base_rows)]
            results["baseline"] = base_info
    if args.synthetic:
        switch_rows, switch_info = switch(args.synthetic)
        report += ["", f"A filtered dense search over {args.synthetic:,} random vectors "
                   f"({switch_info['factory']}, built in {switch_info['build_seconds']:.0f} s),"
                   f" {CANDIDATES} candidates asked for, ms p50:", "",
                   markdown_table(["allowed subset", "scored exactly", "through the index",
                                   "found through the index", "as configured", "found"],
                                  switch_rows)]
        results["switch"] = switch_info
    results["machine_after"] = machine_state()
    write_outputs("\n".join(report), results, args.markdown, args.json)


if __name__ == "__main__":
    main()
