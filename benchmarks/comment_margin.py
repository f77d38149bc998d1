"""Should an article passage outrank a reader comment it nearly ties? Sweep the margin.

    .venv/bin/python benchmarks/comment_margin.py [--queries FILE ...] [--margin M ...]

Builds the sample corpus (or --docs) into a temporary folder and asks its questions (by
default eval/sample_queries.jsonl and ../shared/eval/seed_dev_queries.jsonl) in hybrid mode
with each margin set as ``index.search.COMMENT_MARGIN``, the amount taken off a comment
passage's fused score. Questions are grouped by where their answer is (the part of the first
passage that answers it, searched without a margin), so a margin that helps article
questions by costing comment questions shows as such. Also prints what opens the results of
a topic query ("Russian troops in Iraq" by default) at each margin.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from common import (
    SAMPLE_CORPUS,
    SAMPLE_QUERY_FILES,
    base_config,
    markdown_table,
    report_options,
    setup_logging,
    write_outputs,
)

from index import (
    IndexFolder,
    Searcher,
    SearchRequest,
    answer_rank,
    build_index,
    load_embedder,
    load_seed_queries,
)
from index import search as search_module
from index.evaluation import SeedQuery
from index.search import Hit

DEFAULT_MARGINS = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2)


@click.command()
@click.option("--docs", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=SAMPLE_CORPUS, show_default=True, help="Folder the questions are about.")
@click.option("--queries", "query_files", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Seed-query files (JSON lines of q, doc, answers); repeatable.")
@click.option("--margin", "margins", multiple=True, type=float,
              help="Margins to try (repeatable).  [default: 0 to 0.2]")
@click.option("--topic", default="Russian troops in Iraq", show_default=True,
              help="A broad query whose first results are shown at each margin.")
@report_options()
def main(docs: Path, query_files: tuple[Path, ...], margins: tuple[float, ...], topic: str,
         markdown_out: Path | None, json_out: Path | None, verbose: bool) -> None:
    setup_logging(verbose)
    queries = [q for path in (query_files or SAMPLE_QUERY_FILES) for q in load_seed_queries(path)]
    with tempfile.TemporaryDirectory() as scratch:
        config = base_config(docs_dir=docs, index_dir=Path(scratch) / "index")
        embedder = load_embedder(config)
        build_index(config, embedder=embedder)
        searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder,
                                 config.fusion, config.alpha)

        def ranked(query: str, margin: float, k: int = 10) -> list[Hit]:
            search_module.COMMENT_MARGIN = margin  # read at each search
            return searcher.search(SearchRequest(query, k=k)).hits

        groups: dict[str, list[SeedQuery]] = {"article": [], "comment": [], "not found": []}
        for q in queries:
            hits = ranked(q.q, 0.0, k=100)
            rank = answer_rank(hits, q)
            groups[hits[rank - 1].passage.part if rank else "not found"].append(q)

        rows: list[list[object]] = []
        results: dict[float, dict[str, object]] = {}
        for margin in margins or DEFAULT_MARGINS:
            row: list[object] = [f"{margin:g}"]
            results[margin] = {}
            for name in ("article", "comment"):
                ranks = [answer_rank(ranked(q.q, margin), q) for q in groups[name]]
                first, top5 = sum(r == 1 for r in ranks), sum(0 < r <= 5 for r in ranks)
                row.append(f"{first} / {top5}")
                results[margin][name] = {"hit@1": first, "hit@5": top5}
            top = ranked(topic, margin, k=5)
            row.append(" ".join(hit.passage.part[0] for hit in top)
                       + f" ({top[0].score:.3f})")
            results[margin]["topic"] = [hit.passage.part for hit in top]
            rows.append(row)

    sizes = {name: len(found) for name, found in groups.items()}
    header = ["margin", f"article questions ({sizes['article']}): hit@1 / hit@5",
              f"comment questions ({sizes['comment']}): hit@1 / hit@5",
              f"'{topic}' top 5 (a/c), first score"]
    note = f"\n\n{sizes['not found']} questions not answered in the top 100 at margin 0."
    write_outputs(markdown_table(header, rows) + note, {"groups": sizes, "margins": results},
                  markdown_out, json_out)


if __name__ == "__main__":
    main()
