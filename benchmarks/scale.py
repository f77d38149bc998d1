"""Scale: the FAISS index at 100k and 1M passages, the ANN index "auto" picks against exact Flat.

    nice .venv/bin/python benchmarks/scale.py --sizes 100000 --sizes 1000000 \\
        --json var/bench/scale.json --markdown var/bench/scale.md

What it measures, for each size, for the index ``faiss_factory = "auto"`` builds there (or
``--factory``) and for exact ``Flat`` as the baseline, both built by the shipped code
(``index.vectors.faiss.save_vectors``) and loaded by it (``load_faiss_index``, memory-mapped):

* recall@10 of the ANN index against the exact ranking, over real SciFact queries;
* search latency p50/p99 of single queries on one thread (as the service searches), at the
  depth the Searcher asks for (``index.search.CANDIDATES``), query encoding excluded. Every
  query goes to Flat and to each ANN setting back to back, in rotated order, so noise from
  other jobs on the machine hits all of them alike; ratios are Flat p50 / ANN p50;
* build time (``save_vectors``: vectors.npy, training, adding, writing);
* load time and resident memory in a fresh process per index: VmRSS after loading, and after
  searching every query (mapped index pages count once touched; they are page cache, shared
  between processes), plus the load time without mmap. Fresh processes alternate between the
  indexes for ``--rounds`` rounds; medians are reported. The files are in the page cache (just
  written), so load times are warm-cache times. They leave out the sha256 check of every file
  that a service runs before it serves a generation (``read_manifest(verify=True)``).

The vectors are synthetic but shaped like real embeddings: the real SciFact passage vectors
of the prebuilt index (all-MiniLM-L6-v2, 384 dimensions) are kept, and the rest are mixtures
of a real passage and one of its 20 nearest neighbours (weight 0.5-1 on the first) plus
Gaussian noise with the real vectors' covariance (``--sigma``), renormalised. The queries are
real SciFact queries embedded by the project's Embedder. The "data" lines check realism:
nearest-neighbour similarities, and whether real passages win more than their share of the
queries' top 10 (if the synthetic passages were off the data manifold, they would).

Findings (2 shared cores, FAISS 1.15.1, other jobs running; var/bench/scale.md):
  * 1M passages, HNSW32,SQfp16 at efSearch 512 (what "auto" builds): recall@10 0.981, p50
    2.6 ms / p99 5.3 ms against Flat's 138 / 162 ms (52x), RSS 1.09 GiB after 200 queries
    (58 MiB anonymous, the rest mapped file pages), load 0.09 s mapped / 0.84 s read, build
    101 s (Flat: 11 s). efSearch 128 / 256: recall 0.90 / 0.97, but HNSW then returns as few
    as 317 / 600 of the 1,100 hits the Searcher asks for; 512 always returns all of them.
  * 100k: recall@10 1.000, p50 1.8 ms against Flat's 12.5 ms; build 17 s.
  * Exploration (same data, one add call instead of 50k chunks, which gave slightly lower
    recall): exhaustive SQ8 alone reaches recall@10 0.978 at 1M (fp16: 0.998), so HNSW32,SQ8
    needs efSearch 768 for 0.964; HNSW16 loses ~2 points against HNSW32 at 100k.
  * The exact scan costs ~0.12-0.25 ms per 1k passages on one core (20k: 3-7 ms), hence the
    20k threshold of "auto".

Needs about 6 GB of free disk and 5 GB of memory at 1M passages. Building the 1M HNSW index
takes several minutes on 2 cores. The indexes go to ``--work-dir`` and are deleted at the end
unless ``--keep``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import click  # noqa: E402
import faiss  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.vectors import ANN_THRESHOLD, resolve_factory  # noqa: E402
from index.vectors.faiss import load_faiss_index, load_vectors, save_vectors  # noqa: E402

logger = logging.getLogger("scale")

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
SOURCE_INDEX = ROOT / "var/eval/scifact/index"
NEIGHBOURS = 20  # a synthetic vector mixes a real passage with one of its nearest neighbours
TARGETS = {"recall_at_10": 0.95, "p99_ms": 10.0, "rss_gib": 2.0, "load_s": 10.0}
Vectors = NDArray[np.float32]


@dataclass
class Variant:
    """One index (or one search setting of an index) measured at one size."""

    size: int
    name: str
    factory: str
    params: str = ""  # FAISS search parameters, e.g. "efSearch=64"; "" = as saved
    build_s: float | None = None
    recall_at_10: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio_p50: float | None = None  # Flat p50 / this p50
    # Hits returned of the depth asked (HNSW returns only the nodes it visits): min and p10.
    hits_min: int | None = None
    hits_p10: float | None = None
    load_s: float | None = None
    load_read_s: float | None = None  # without mmap
    rss_base_mib: float | None = None
    rss_loaded_mib: float | None = None
    rss_searched_mib: float | None = None
    rss_anon_mib: float | None = None
    rss_file_mib: float | None = None
    first_query_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list, repr=False)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def real_passage_vectors(source: Path) -> Vectors:
    live = source / "generations" / (source / "CURRENT").read_text().strip()
    return np.ascontiguousarray(np.load(live / "vectors.npy"))


def real_query_vectors(count: int) -> Vectors:
    """The first ``count`` SciFact queries, embedded as the service embeds queries."""
    from index import DEFAULT_MODEL, Embedder, find_model

    with open(SCIFACT / "queries.jsonl") as f:
        texts = [json.loads(line)["text"] for line in f][:count]
    embedder = Embedder.load(find_model(DEFAULT_MODEL))
    import torch

    # Two torch threads stall on a shared machine (~1 query/s); one does ~30 queries/s.
    torch.set_num_threads(1)
    vectors = np.stack([embedder.embed_query(t) for t in tqdm(
        texts, desc="Embedding queries", unit="query", file=sys.stderr)])
    return vectors.astype(np.float32)


def synthetic_vectors(real: Vectors, size: int, sigma: float, seed: int = 0) -> Vectors:
    """``size`` unit vectors: the real ones first, then mixtures of neighbours plus noise."""
    rng = np.random.default_rng(seed)
    count, dimension = real.shape
    flat = faiss.IndexFlatIP(dimension)
    flat.add(real)
    _, neighbours = flat.search(real, NEIGHBOURS + 1)
    neighbours = neighbours[:, 1:]  # drop the passage itself
    # Noise shaped like the data: most of it along the directions real passages vary in.
    covariance = np.cov(real.T.astype(np.float64)) + 1e-9 * np.eye(dimension)
    shape = np.linalg.cholesky(covariance).astype(np.float32)
    out = np.empty((size, dimension), np.float32)
    out[: min(count, size)] = real[:size]
    step = 100_000
    for start in tqdm(range(count, size, step), desc="Synthesising", unit="chunk",
                      file=sys.stderr, disable=size <= count):
        n = min(step, size - start)
        first = rng.integers(0, count, n)
        second = neighbours[first, rng.integers(0, NEIGHBOURS, n)]
        weight = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
        noise = rng.standard_normal((n, dimension), dtype=np.float32) @ shape.T
        mixed = weight * real[first] + (1 - weight) * real[second] + sigma * noise
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        out[start : start + n] = mixed
    return out


def data_profile(vectors: Vectors, flat: Any, real_count: int, exact_ids: NDArray[np.int64],
                 exact_scores: NDArray[np.float32]) -> dict[str, float]:
    """Numbers saying whether the synthetic set looks like real embeddings to queries."""
    rng = np.random.default_rng(1)
    sample = rng.choice(len(vectors), min(500, len(vectors)), replace=False)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # a batch: BLAS on every core
    scores, _ = flat.search(vectors[sample], 2)
    real_share = min(real_count, len(vectors)) / len(vectors)
    return {
        "passage_nn_cos_p50": float(np.median(scores[:, 1])),
        "query_top1_cos_p50": float(np.median(exact_scores[:, 0])),
        "query_top10_cos_p50": float(np.median(exact_scores[:, 9])),
        "query_gap_10_11_p50": float(np.median(exact_scores[:, 9] - exact_scores[:, 10])),
        "real_share_of_set": real_share,
        "real_share_of_top10": float((exact_ids[:, :10] <= real_count).mean()),  # ids = row + 1
    }


def real_profile(real: Vectors, queries: Vectors) -> dict[str, float]:
    """The same numbers for the real SciFact passages alone, to compare with."""
    flat = faiss.IndexFlatIP(real.shape[1])
    flat.add(real)
    scores, rows = flat.search(queries, 11)
    return data_profile(real, flat, len(real), rows + 1, scores)


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


def build(directory: Path, vectors: Vectors, factory: str) -> float:
    # load_faiss_index pins FAISS to one thread for queries; builds should use every core.
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    save_vectors(directory, vectors, factory, progress=True)
    return time.perf_counter() - started


def measure_search(variants: list[Variant], indexes: list[Any], queries: Vectors,
                   depth: int, warmup: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Single-query latency of every index, interleaved; the first index must be exact."""
    faiss.omp_set_num_threads(1)
    ids = [np.empty((len(queries), depth), np.int64) for _ in indexes]
    scores = np.empty((len(queries), depth), np.float32)
    for q in queries[:warmup]:
        for index in indexes:
            index.search(q.reshape(1, -1), depth)
    for row, q in enumerate(tqdm(queries, desc="Searching", unit="query", file=sys.stderr)):
        query = q.reshape(1, -1)
        order = list(range(len(indexes)))
        shift = row % len(order)
        for i in order[shift:] + order[:shift]:  # rotate who goes first
            started = time.perf_counter()
            d, found = indexes[i].search(query, depth)
            variants[i].latencies_ms.append((time.perf_counter() - started) * 1000)
            ids[i][row] = found[0]
            if i == 0:
                scores[row] = d[0]
    flat_p50 = statistics.median(variants[0].latencies_ms)
    for variant, found in zip(variants, ids, strict=True):
        variant.p50_ms = statistics.median(variant.latencies_ms)
        variant.p99_ms = float(np.percentile(variant.latencies_ms, 99))
        variant.ratio_p50 = flat_p50 / variant.p50_ms
        hits = (found >= 0).sum(axis=1)
        variant.hits_min, variant.hits_p10 = int(hits.min()), float(np.percentile(hits, 10))
        variant.recall_at_10 = float(np.mean([
            len(set(found[r, :10]) & set(ids[0][r, :10])) / 10 for r in range(len(queries))
        ]))
    return ids[0], scores


def probe_index(directory: Path, queries_file: Path, depth: int, mmap: bool) -> dict[str, float]:
    """In a fresh process: load one index with the service's loader (memory-mapped), search,
    report memory. The service also reads every file once to check its sha256 before it
    serves a generation (``read_manifest(verify=True)``); that pass is left out here, so
    ``load_s`` is the load alone, not a service's start."""
    before = _memory()
    started = time.perf_counter()
    index = load_faiss_index(directory, mmap=mmap)
    load_vectors(directory)
    load_s = time.perf_counter() - started
    loaded = _memory()
    if not mmap:  # only the load time is wanted from this one
        return {"load_s": load_s}
    queries = np.load(queries_file)
    first = time.perf_counter()
    index.search(queries[:1], depth)
    first_ms = (time.perf_counter() - first) * 1000
    for q in queries:
        index.search(q.reshape(1, -1), depth)
    searched = _memory()
    return {
        "load_s": load_s, "first_query_ms": first_ms, "rss_base_mib": before["VmRSS"],
        "rss_loaded_mib": loaded["VmRSS"], "rss_searched_mib": searched["VmRSS"],
        "rss_anon_mib": searched["RssAnon"], "rss_file_mib": searched["RssFile"],
    }


def _memory() -> dict[str, float]:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile")}


def run_probe(directory: Path, queries_file: Path, depth: int, mmap: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--probe", str(directory), "--probe-queries",
               str(queries_file), "--depth", str(depth)]
    if not mmap:
        command.append("--probe-no-mmap")
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def measure_processes(variants: list[Variant], directories: list[Path], queries_file: Path,
                      depth: int, rounds: int) -> None:
    """Fresh-process load time and memory, alternating between the indexes each round."""
    runs: list[list[dict[str, float]]] = [[] for _ in variants]
    reads: list[list[float]] = [[] for _ in variants]
    for r in tqdm(range(rounds), desc="Fresh processes", unit="round", file=sys.stderr):
        order = list(range(len(variants)))
        if r % 2:
            order.reverse()
        for i in order:
            runs[i].append(run_probe(directories[i], queries_file, depth, mmap=True))
            reads[i].append(run_probe(directories[i], queries_file, depth, mmap=False)["load_s"])
    for variant, results, read in zip(variants, runs, reads, strict=True):
        for key in results[0]:
            setattr(variant, key, statistics.median(r[key] for r in results))
        variant.load_read_s = statistics.median(read)


# --------------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------------


def markdown(results: list[Variant], profiles: dict[int, dict[str, float]],
             settings: dict[str, Any]) -> str:
    def num(value: float | None, digits: int = 1) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    lines = [
        f"Scale benchmark, {settings['queries']} real SciFact queries, search depth "
        f"{settings['depth']} (the Searcher's), 1 thread; synthetic vectors (sigma "
        f"{settings['sigma']}); FAISS {faiss.__version__}; {settings['started']}. "
        f"'hits' counts the results returned of the {settings['depth']} asked for.",
        "",
        "| passages | index | search params | build s | load s (mmap / read) | RSS MiB loaded "
        "| RSS MiB after queries (anon + file) | recall@10 | hits min / p10 | p50 ms | p99 ms "
        "| Flat p50 / p50 |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in results:
        load = "" if v.load_s is None else f"{v.load_s:.3f} / {num(v.load_read_s, 2)}"
        rss = "" if v.rss_searched_mib is None else (
            f"{v.rss_searched_mib:.0f} ({v.rss_anon_mib:.0f} + {v.rss_file_mib:.0f})")
        lines.append(
            f"| {v.size:,} | {v.factory} | {v.params or 'as saved'} | {num(v.build_s)} | {load} "
            f"| {num(v.rss_loaded_mib, 0)} | {rss} | {num(v.recall_at_10, 3)} "
            f"| {v.hits_min} / {num(v.hits_p10, 0)} "
            f"| {num(v.p50_ms, 2)} | {num(v.p99_ms, 2)} | {num(v.ratio_p50, 1)} |")
    lines += ["", "Data (exact search; the first line is SciFact's real passages alone, to "
              "compare with):", ""]
    for size, p in profiles.items():
        lines.append(
            f"- {size:,}: passage nearest-neighbour cosine p50 {p['passage_nn_cos_p50']:.3f}; "
            f"query top-1 / top-10 cosine p50 {p['query_top1_cos_p50']:.3f} / "
            f"{p['query_top10_cos_p50']:.3f}, gap 10th-11th {p['query_gap_10_11_p50']:.4f}; "
            f"real passages are {p['real_share_of_set']:.1%} of the set and "
            f"{p['real_share_of_top10']:.1%} of the queries' top 10")
    lines += ["", "Targets at 1M: recall@10 >= 0.95, p99 <= 10 ms, RSS <= 2 GiB, load <= 10 s. "
              "RSS includes the interpreter with numpy and FAISS (the 'bare' column in the "
              f"JSON, ~{num(_bare(results), 0)} MiB); mapped pages (file) are page cache, shared "
              "by every process serving the same generation.", ""]
    return "\n".join(lines)


def _bare(results: list[Variant]) -> float | None:
    values = [v.rss_base_mib for v in results if v.rss_base_mib is not None]
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sizes", multiple=True, type=click.IntRange(1000), default=[100_000, 1_000_000],
              show_default=True, help="Passage counts to measure (repeatable).")
@click.option("--factory", help="ANN factory string to measure.  [default: what 'auto' picks "
              f"at each size; Flat below {ANN_THRESHOLD:,}]")
@click.option("--search-params", "search_params", multiple=True,
              help="Extra FAISS search settings to measure on the same ANN index, e.g. "
                   "efSearch=64 (repeatable).")
@click.option("--queries", "query_count", type=click.IntRange(10), default=200,
              show_default=True, help="Real SciFact queries to search.")
@click.option("--sigma", type=float, default=0.35, show_default=True,
              help="Noise scale of the synthetic vectors (x the data's covariance).")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Fresh-process load/memory rounds per index.")
@click.option("--source", type=click.Path(path_type=Path, file_okay=False),
              default=SOURCE_INDEX, show_default=True,
              help="Index folder whose passage vectors seed the synthetic ones.")
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              default=ROOT / "var/bench/scale-data", show_default=True,
              help="Where the indexes are written.")
@click.option("--keep", is_flag=True, help="Keep the indexes in --work-dir.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as JSON here.")
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the Markdown table here (e.g. var/bench/scale.md).")
@click.option("--depth", type=int, default=None, hidden=True)
@click.option("--probe", type=click.Path(path_type=Path), hidden=True)
@click.option("--probe-queries", type=click.Path(path_type=Path), hidden=True)
@click.option("--probe-no-mmap", is_flag=True, hidden=True)
def main(sizes: tuple[int, ...], factory: str | None, search_params: tuple[str, ...],
         query_count: int, sigma: float, rounds: int, source: Path, work_dir: Path,
         keep: bool, json_out: Path | None, markdown_out: Path | None, depth: int | None,
         probe: Path | None, probe_queries: Path | None, probe_no_mmap: bool) -> None:
    """Recall, latency, memory, build and load time of the FAISS index at scale."""
    from index.search import CANDIDATES

    depth = depth or CANDIDATES
    if probe is not None:  # the fresh process of run_probe
        assert probe_queries is not None
        print(json.dumps(probe_index(probe, probe_queries, depth, mmap=not probe_no_mmap)))
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    real = real_passage_vectors(source)
    queries = real_query_vectors(query_count)
    work_dir.mkdir(parents=True, exist_ok=True)
    queries_file = work_dir / "queries.npy"
    np.save(queries_file, queries)
    results: list[Variant] = []
    profiles = {len(real): real_profile(real, queries)}
    try:
        for size in sizes:
            results += run_size(size, factory, search_params, real, queries, queries_file,
                                sigma, rounds, depth, work_dir, keep, profiles)
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    settings = {"queries": query_count, "depth": depth, "sigma": sigma, "started": started,
                "faiss": faiss.__version__, "threshold": ANN_THRESHOLD}
    table = markdown(results, profiles, settings)
    print(table)
    if markdown_out:
        markdown_out.parent.mkdir(parents=True, exist_ok=True)
        markdown_out.write_text(table)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({
            "settings": settings, "targets": TARGETS, "data": profiles,
            "results": [asdict(v) for v in results],
        }, indent=2))


def run_size(size: int, factory: str | None, search_params: tuple[str, ...], real: Vectors,
             queries: Vectors, queries_file: Path, sigma: float, rounds: int, depth: int,
             work_dir: Path, keep: bool, profiles: dict[int, dict[str, float]]) -> list[Variant]:
    ann_factory = factory or resolve_factory("auto", size)
    logger.info("%d passages: %s against Flat", size, ann_factory)
    vectors = synthetic_vectors(real, size, sigma)
    flat_dir, ann_dir = work_dir / f"{size}-flat", work_dir / f"{size}-ann"
    flat = Variant(size, "flat", "Flat")
    ann = Variant(size, "ann", ann_factory)
    flat.build_s = build(flat_dir, vectors, "Flat")
    ann.build_s = build(ann_dir, vectors, ann_factory)
    logger.info("built in %.1f s (Flat) and %.1f s (%s)", flat.build_s, ann.build_s, ann_factory)
    if ann_factory == "Flat":
        ann = Variant(size, "ann", "Flat (auto)", build_s=ann.build_s)

    # Latency and recall in this process, every index mapped as the service maps it (the
    # service's checksum pass over the files is not part of this).
    variants = [flat, ann]
    indexes = [load_faiss_index(flat_dir), load_faiss_index(ann_dir)]
    for params in search_params if ann_factory != "Flat" else ():
        variants.append(Variant(size, "ann", ann_factory, params=params))
        extra = load_faiss_index(ann_dir)  # mapped again: shares the pages
        faiss.ParameterSpace().set_index_parameters(extra, params)  # type: ignore[arg-type]
        indexes.append(extra)
    exact_ids, exact_scores = measure_search(variants, indexes, queries, depth, warmup=10)
    profiles[size] = data_profile(vectors, indexes[0], len(real), exact_ids, exact_scores)
    del indexes, vectors
    measure_processes([flat, ann], [flat_dir, ann_dir], queries_file, depth, rounds)
    if not keep:
        for directory in (flat_dir, ann_dir):
            shutil.rmtree(directory, ignore_errors=True)
    return variants


if __name__ == "__main__":
    main()
