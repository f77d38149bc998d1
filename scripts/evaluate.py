"""evaluate: retrieval quality of the pipeline on a BEIR collection or on seed queries."""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from index import (
    DEFAULT_MODE,
    FUSIONS,
    MAX_QUERY_CHARS,
    MODES,
    PUBLISHED,
    BuildError,
    Collection,
    Config,
    Embedder,
    IndexFolder,
    Searcher,
    SearchError,
    SearchRequest,
    answer_rank,
    build_index,
    load_beir,
    load_config,
    load_embedder,
    load_seed_queries,
    score_run,
    write_beir_documents,
)

logger = logging.getLogger("evaluate")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--mode", "modes", multiple=True, type=click.Choice(MODES),
              help="Modes to evaluate (repeatable).  [default: all]")
@click.option("--split", default="test", show_default=True, help="Which qrels file to score.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the metrics as JSON to this file.")
@click.option("--queries", "queries_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Seed-query file (JSON lines of q, doc, answers and optionally judged); "
                   "use with --docs.")
# readable=False on the folders: one that cannot be read or written is the build's error
# (one line, exit 1), as in rebuild-index, not a usage error.
@click.option("--docs", "docs_dir",
              type=click.Path(path_type=Path, file_okay=False, readable=False),
              help="Docs folder the seed queries are about.")
@click.option("--index-dir", type=click.Path(path_type=Path, file_okay=False, readable=False),
              help="Keep the index here and reuse it next time.  [default: a temporary folder]")
@click.option("--off-topic", "off_topic_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Queries the documents cannot answer, one per line: also count how often "
                   "the 'no close match' notice misses them, and fires on the answerable ones.")
@click.option("--model", help="Model directory or cached model name.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SEARCH_CONFIG", help="TOML file of index settings.")
@click.option("--vector-store", metavar="URI",
              help="faiss, milvus://HOST:PORT[/NAME] or a Milvus Lite file PATH.db.")
@click.option("--max-queries", type=int, help="Score only the first N queries (a quick slice).")
@click.option("--max-docs", type=int,
              help="Index only the judged documents of the scored queries plus N others.")
@click.option("--fusion", "fusions", multiple=True, type=click.Choice(FUSIONS),
              help="Hybrid fusion methods to compare (repeatable).  [default: configured]")
@click.option("--alpha", "alphas", multiple=True, type=click.FloatRange(0, 1),
              help="Hybrid dense weights to compare, each used as given for every query "
                   "(repeatable).  [default: configured, adapted per query by adaptive "
                   "fusion]")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def main(
    data_dir: Path | None, modes: tuple[str, ...], split: str, json_out: Path | None,
    queries_file: Path | None, docs_dir: Path | None, index_dir: Path | None,
    off_topic_file: Path | None, model: str | None, config_file: Path | None,
    vector_store: str | None, max_queries: int | None, max_docs: int | None,
    fusions: tuple[str, ...], alphas: tuple[float, ...], quiet: bool,
) -> None:
    """Score search quality on DATA_DIR, a BEIR folder (corpus.jsonl, queries.jsonl, qrels/).

    Prints nDCG@10, recall@100 and MRR@10 per mode next to published numbers; documents
    are ranked by their best passage. With --queries and --docs, scores seed queries
    instead (hit@1, hit@5, MRR@10).
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(message)s")
    if (data_dir is None) == (queries_file is None):
        raise click.UsageError("give either DATA_DIR or --queries with --docs")
    if queries_file is not None and docs_dir is None:
        raise click.UsageError("--queries needs --docs")
    try:
        base = load_config(config_file, os.environ,
                           {"model": model, "vector_store": vector_store})
        variants = _variants(modes or MODES, fusions or (base.fusion,), alphas or (None,))
        embedder = load_embedder(base)
        if data_dir is not None:
            report = _evaluate_beir(data_dir, split, variants, base, embedder, index_dir,
                                    max_queries, max_docs, off_topic_file, quiet)
        else:
            assert queries_file is not None and docs_dir is not None
            report = _evaluate_seed(queries_file, docs_dir, variants, base, embedder, index_dir,
                                    off_topic_file, quiet)
    except (SearchError, OSError, ValueError, KeyError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(_table(report))
    if json_out:
        try:
            json_out.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as e:
            raise click.ClickException(f"cannot write {json_out}: {e.strerror or e}") from e


@dataclass(frozen=True)
class _Variant:
    """One way of ranking to score: a mode, and for hybrid a fusion and a dense weight."""

    label: str
    mode: str
    fusion: str
    alpha: float | None  # None: the configured one, adapted per query by adaptive fusion


def _variants(
    modes: tuple[str, ...], fusions: tuple[str, ...], alphas: tuple[float | None, ...]
) -> list[_Variant]:
    variants = []
    for mode in modes:
        if mode != "hybrid":
            variants.append(_Variant(mode, mode, fusions[0], alphas[0]))
            continue
        for fusion in fusions:
            for alpha in alphas:
                weight = "" if alpha is None else f" {alpha}"
                label = ("hybrid" if len(fusions) * len(alphas) == 1
                         else f"hybrid {fusion}{weight}")
                variants.append(_Variant(label, mode, fusion, alpha))
    return variants


def _evaluate_beir(
    data_dir: Path, split: str, variants: list[_Variant], base: Config, embedder: Embedder,
    index_dir: Path | None, max_queries: int | None, max_docs: int | None,
    off_topic_file: Path | None, quiet: bool,
) -> dict[str, Any]:
    collection = load_beir(data_dir, split, max_queries, max_docs)
    with _workspace(index_dir) as root:
        write_beir_documents(collection, root / "docs")
        config = Config(**{**vars(base), "docs_dir": root / "docs", "index_dir": root / "index"})
        build = build_index(config, progress=not quiet, embedder=embedder)
        searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder,
                                 config.fusion, config.alpha, vector_store=config.vector_store)
        results = {}
        for variant in variants:
            run, timings = _rank_documents(searcher, collection, variant, quiet)
            metrics = score_run(collection.qrels, run)
            results[variant.label] = {
                **metrics, "query_ms_p50": round(statistics.median(timings), 2)
            }
        weak = _weak_notices(searcher, list(collection.queries.values()), off_topic_file)
    return {
        "collection": collection.name,
        "split": split,
        "default_mode": DEFAULT_MODE,
        "queries": len(collection.queries),
        "documents": len(collection.documents),
        "passages": build.passages,
        "build_seconds": round(build.seconds, 1),
        "embedded": build.embedded,
        "settings": config.chunking_settings(),
        "model": embedder.info.name,
        "modes": results,
        **weak,
        # Published numbers are for the test split: beside any other split they mislead.
        "published": PUBLISHED.get(collection.name, {}) if split == "test" else {},
    }


def _rank_documents(
    searcher: Searcher, collection: Collection, variant: _Variant, quiet: bool
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Each query's top 100 documents, scored 1/rank so ties cannot reorder them."""
    from tqdm import tqdm

    run: dict[str, dict[str, float]] = {}
    timings = []
    for query_id, text in tqdm(collection.queries.items(), desc=f"Queries ({variant.label})",
                               file=sys.stderr, disable=quiet):
        started = time.perf_counter()
        results = searcher.search(SearchRequest(
            text[:MAX_QUERY_CHARS], k=100, mode=variant.mode, group_by_document=True,
            alpha=variant.alpha, fusion=variant.fusion,
        ))
        timings.append((time.perf_counter() - started) * 1000)
        run[query_id] = {
            collection.document_of_file[hit.passage.document_id]: 1.0 / hit.rank
            for hit in results.hits
        }
    return run, timings


def _evaluate_seed(
    queries_file: Path, docs_dir: Path, variants: list[_Variant], base: Config,
    embedder: Embedder, index_dir: Path | None, off_topic_file: Path | None, quiet: bool,
) -> dict[str, Any]:
    queries = load_seed_queries(queries_file)
    with _workspace(index_dir) as root:
        config = Config(**{**vars(base), "docs_dir": docs_dir, "index_dir": root / "index"})
        build_index(config, progress=not quiet, embedder=embedder)
        searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder,
                                 config.fusion, config.alpha, vector_store=config.vector_store)
        results = {}
        any_judged = any(q.judged for q in queries)
        for variant in variants:
            hits = [searcher.search(SearchRequest(
                q.q, k=10, mode=variant.mode, alpha=variant.alpha, fusion=variant.fusion,
            )).hits for q in queries]
            ranks = [answer_rank(found, q) for found, q in zip(hits, queries, strict=True)]
            misses = [q.q for q, rank in zip(queries, ranks, strict=True) if not rank or rank > 5]
            results[variant.label] = {
                "hit@1": sum(r == 1 for r in ranks) / len(ranks),
                "hit@5": sum(0 < r <= 5 for r in ranks) / len(ranks),
                "mrr@10": sum(1 / r for r in ranks if r) / len(ranks),
                "missed@5": misses,
            }
            if any_judged:  # the located answers alone, as before the judging
                located = [answer_rank(found, q, judged=False)
                           for found, q in zip(hits, queries, strict=True)]
                results[variant.label]["located hit@5"] = (
                    sum(0 < r <= 5 for r in located) / len(located))
        weak = _weak_notices(searcher, [q.q for q in queries], off_topic_file)
    return {"collection": queries_file.stem, "default_mode": DEFAULT_MODE,
            "queries": len(queries), "modes": results, **weak}


def _weak_notices(
    searcher: Searcher, answerable: list[str], off_topic_file: Path | None
) -> dict[str, Any]:
    """How the "no close match" notice does in the default mode: answerable queries it fires
    on (false alarms) and off-topic ones it does not (misses); {} without off-topic queries."""
    if off_topic_file is None:
        return {}
    off_topic = [line.strip() for line in off_topic_file.read_text().splitlines() if line.strip()]

    def weak(query: str) -> bool:
        return searcher.search(SearchRequest(query[:MAX_QUERY_CHARS], k=1)).weak

    return {"weak_notice": {
        "line": searcher.weak_cosine,
        "false_alarms": [q for q in answerable if weak(q)], "answerable": len(answerable),
        "misses": [q for q in off_topic if not weak(q)], "off_topic": len(off_topic),
    }}


@contextmanager
def _workspace(index_dir: Path | None) -> Iterator[Path]:
    if index_dir is not None:
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BuildError(f"cannot write to the index folder {index_dir}: "
                             f"{e.strerror or e}") from e
        yield index_dir
        return
    with tempfile.TemporaryDirectory(prefix="evaluate-") as temporary:
        yield Path(temporary)


def _table(report: dict[str, Any]) -> str:
    modes = report["modes"]
    columns = [c for c in next(iter(modes.values())) if not c.startswith("missed")]
    lines = [f"{report['collection']}: {report['queries']} queries"
             + (f", {report['documents']} documents, {report['passages']} passages, "
                f"model {report['model']}" if "documents" in report else "")]
    lines.append(f"{'system':<36}" + "".join(f"{c:>14}" for c in columns))
    for mode, metrics in modes.items():
        label = f"this project, {mode}" + (" (default)" if mode == report["default_mode"] else "")
        label = label[:35]
        lines.append(f"{label:<36}" + "".join(f"{metrics[c]:>14.3f}" for c in columns))
    for system, (ndcg, recall) in report.get("published", {}).items():
        lines.append(f"{system:<36}{ndcg:>14.3f}{recall:>14.3f}")
    for mode, metrics in modes.items():
        for missed in metrics.get("missed@5", []):
            lines.append(f"  {mode}: answer not in top 5 for {missed!r}")
    if weak := report.get("weak_notice"):
        lines.append(f"'no close match' (under {weak['line']:.3f}): fired for "
                     f"{len(weak['false_alarms'])} of {weak['answerable']} answerable queries, "
                     f"missed {len(weak['misses'])} of {weak['off_topic']} off-topic ones")
        lines += [f"  fired for {q!r}" for q in weak["false_alarms"]]
        lines += [f"  missed {q!r}" for q in weak["misses"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
