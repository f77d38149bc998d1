"""Milvus against FAISS, and Ray against in-process embedding, on the same data in one run.

    .venv/bin/python benchmarks/scaling.py [--queries 200] [--skip-ray] [--json F] [--markdown F]

1. Vector stores: the sample corpus and SciFact (the index scripts/evaluate.py keeps in
   var/eval/scifact) written to FAISS, a Milvus 2.3 server and a Milvus Lite file from the
   same vectors (the Milvus generations are built from the FAISS one, re-embedding nothing).
   For each, with query vectors computed once beforehand (no encoding measured): the
   vector search alone (1,100 candidates, what hybrid ranking asks for), a whole hybrid
   ``Searcher.search``, and recall@10 against FAISS's exact ranking. Rotated, interleaved.
2. Embedding: the same passages embedded in this process and on a local Ray cluster (a
   head and a worker node on 127.0.0.1, one CPU each: this machine's two cores), with the
   cluster's start-up time apart. Vectors are compared too.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    SAMPLE_QUERY_FILES,
    SCIFACT_INDEX,
    SCIFACT_QUERIES,
    base_config,
    build_sample_index,
    copy_index,
    distinct,
    fmt,
    machine_state,
    markdown_table,
    percentile,
    read_queries,
    setup_logging,
    write_outputs,
)

from index import (  # noqa: E402
    Embedder,
    IndexFolder,
    Searcher,
    SearchRequest,  # noqa: E402
    build_index,
    load_embedder,
)
from index.generations import read_manifest  # noqa: E402
from index.search import CANDIDATES  # noqa: E402
from index.store import PassageStore  # noqa: E402
from tests.milvus_server import milvus_server  # noqa: E402
from tests.ray_cluster import ray_cluster  # noqa: E402


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--queries", "query_count", default=200, show_default=True,
              help="Queries per dataset.")
@click.option("--scifact-index", type=click.Path(path_type=Path, file_okay=False),
              default=SCIFACT_INDEX, show_default=True, help="An index of SciFact.")
@click.option("--skip-ray", is_flag=True, help="Only the vector stores.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path, dir_okay=False))
def main(query_count: int, scifact_index: Path, skip_ray: bool, json_out: Path | None,
         markdown_out: Path | None) -> None:
    """Milvus vs FAISS query latency and recall; Ray vs local embedding time."""
    setup_logging()
    embedder = load_embedder(base_config())
    results: dict[str, Any] = {"machine": machine_state(), "stores": [], "embedding": []}
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        work = Path(tmp)
        datasets = {
            "sample": (build_sample_index(work / "sample", embedder),
                       distinct(q for f in SAMPLE_QUERY_FILES if f.exists()
                                for q in read_queries(f))),
            "SciFact": (copy_index(scifact_index, work / "scifact"),
                        read_queries(SCIFACT_QUERIES)),
        }
        with milvus_server(work / "milvus") as server:
            for name, (index_dir, queries) in datasets.items():
                results["stores"] += _compare_stores(
                    name, index_dir, queries[:query_count], embedder, server, work
                )
        if not skip_ray:
            for name, (index_dir, _) in datasets.items():
                results["embedding"].append(_compare_embedding(name, index_dir, embedder, work))
    write_outputs(_markdown(results), results, markdown_out, json_out)


def _compare_stores(
    dataset: str, faiss_dir: Path, queries: list[str], embedder: Embedder, server: str,
    work: Path,
) -> list[dict[str, Any]]:
    stores = {
        "FAISS": faiss_dir,
        "Milvus server": _milvus_copy(faiss_dir, f"milvus://{server.removeprefix('http://')}"
                                      f"/bench_{dataset.lower()}", work / f"{dataset}-server",
                                      embedder),
        "Milvus Lite": _milvus_copy(faiss_dir, str(work / f"{dataset}.db"),
                                    work / f"{dataset}-lite", embedder),
    }
    searchers = {name: Searcher.open(IndexFolder(d).current(), embedder)
                 for name, d in stores.items()}
    vectors = [embedder.embed_query(q) for q in queries]  # cached: later searches skip the model
    timings: dict[str, dict[str, list[float]]] = {s: {"vector": [], "hybrid": []} for s in stores}
    top10: dict[str, list[list[int]]] = {s: [] for s in stores}
    order = list(stores)
    for i, (query, vector) in enumerate(zip(queries, vectors, strict=True)):
        for name in order[i % len(order):] + order[: i % len(order)]:  # rotated
            searcher = searchers[name]
            started = time.perf_counter()
            hits = searcher._vectors.search(vector, min(CANDIDATES, searcher.passage_count))
            timings[name]["vector"].append((time.perf_counter() - started) * 1000)
            top10[name].append([rowid for rowid, _ in hits[:10]])
            started = time.perf_counter()
            searcher.search(SearchRequest(query, k=10))
            timings[name]["hybrid"].append((time.perf_counter() - started) * 1000)
    rows = []
    for name in stores:
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in
                          zip(top10[name], top10["FAISS"], strict=True)])
        index_type = read_manifest(IndexFolder(stores[name]).current())["vector_store"]
        rows.append({
            "dataset": dataset, "store": name, "passages": searchers[name].passage_count,
            "index_type": index_type["index_type"], "queries": len(queries),
            "vector_p50_ms": percentile(timings[name]["vector"], 50),
            "vector_p99_ms": percentile(timings[name]["vector"], 99),
            "hybrid_p50_ms": percentile(timings[name]["hybrid"], 50),
            "hybrid_p99_ms": percentile(timings[name]["hybrid"], 99),
            "recall_at_10_vs_faiss": float(recall),
        })
    return rows


def _milvus_copy(faiss_dir: Path, store: str, dest: Path, embedder: Embedder) -> Path:
    """A generation of the same documents with its vectors in ``store``, none re-embedded."""
    copy_index(faiss_dir, dest)
    manifest = read_manifest(IndexFolder(dest).current())
    config = base_config(docs_dir=Path(manifest["docs_dir"]), index_dir=dest, vector_store=store)
    started = time.perf_counter()
    report = build_index(config, embedder=embedder)
    assert report.embedded == 0, "the Milvus copy re-embedded passages"
    print(f"wrote {report.passages} vectors to {store} in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return dest


def _compare_embedding(dataset: str, index_dir: Path, embedder: Embedder,
                       work: Path) -> dict[str, Any]:
    from index.ray_embedding import embed_on_ray

    generation = IndexFolder(index_dir).current()
    store = PassageStore.open(generation / "passages.sqlite")
    texts = [p.text for p in store.get_passages(range(1, store.passage_count() + 1))]
    config = dataclasses.replace(base_config(), cache_dir=REPO / "var" / "cache")
    started = time.perf_counter()
    local = embedder.embed_passages(texts, config.batch_size)
    local_s = time.perf_counter() - started
    cluster_started = time.perf_counter()
    with ray_cluster(work / f"ray-{dataset}") as address:
        up_s = time.perf_counter() - cluster_started
        started = time.perf_counter()
        remote = embed_on_ray(address, texts, embedder, config, progress=False)
        ray_s = time.perf_counter() - started
    return {
        "dataset": dataset, "passages": len(texts), "local_s": local_s, "ray_s": ray_s,
        "cluster_start_s": up_s, "ray_over_local": ray_s / local_s,
        "vectors_equal": bool(np.array_equal(local, remote)),
    }


def _markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    parts = [
        f"{machine['cpu_model']}, {machine['cpus_usable']} CPUs, load {machine['load_average']}"
        f" at {machine['time']}.", "",
        markdown_table(
            ["dataset", "store", "passages", "index", "vector search p50 / p99 ms",
             "hybrid search p50 / p99 ms", "recall@10 vs FAISS"],
            [[r["dataset"], r["store"], r["passages"], r["index_type"],
              f"{fmt(r['vector_p50_ms'], 2)} / {fmt(r['vector_p99_ms'], 2)}",
              f"{fmt(r['hybrid_p50_ms'], 2)} / {fmt(r['hybrid_p99_ms'], 2)}",
              f"{r['recall_at_10_vs_faiss']:.3f}"] for r in results["stores"]],
        ),
    ]
    if results["embedding"]:
        parts += ["", markdown_table(
            ["dataset", "passages", "in process s", "Ray s (2 nodes)", "Ray / local",
             "cluster start s", "vectors equal"],
            [[r["dataset"], r["passages"], fmt(r["local_s"]), fmt(r["ray_s"]),
              f"{r['ray_over_local']:.2f}", fmt(r["cluster_start_s"]), r["vectors_equal"]]
             for r in results["embedding"]],
        )]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
