"""search: query the index from a shell, with the same search function as the service.

No Flask and, on the default (exported) query backend, no torch: it answers in well under a
second (docs/benchmarks.md, "The search command").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from index import (
    DEFAULT_MODE,
    MAX_K,
    MODES,
    Hit,
    IndexFolder,
    Searcher,
    SearchError,
    SearchRequest,
    load_config,
    load_embedder,
    matched_spans,
    query_terms,
)
from index.query_syntax import parse_query

_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("query")
@click.option("-k", "--k", "k", type=click.IntRange(1, MAX_K), default=5, show_default=True,
              help="How many results.")
@click.option("--mode", type=click.Choice(MODES), default=DEFAULT_MODE, show_default=True,
              help="Ranking: both, by meaning only, or by words only.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result and line.")
@click.option("--index-dir", type=click.Path(path_type=Path),
              help="Folder holding the index generations.  [default: var/index]")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SEARCH_CONFIG", help="TOML file of settings (flags and SEARCH_* win).")
def main(query: str, k: int, mode: str, as_json: bool, index_dir: Path | None,
         config_file: Path | None) -> None:
    """Search the index for QUERY and print the best passages.

    QUERY takes the search box's syntax: type:pdf, in:notes/, after:2024-03-01,
    before:2024-04-01, "exact phrase", -word. The query's words are marked when the output
    is a terminal.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models are never downloaded here
    try:
        config = load_config(config_file, os.environ, {"index_dir": index_dir})
        generation = IndexFolder(config.index_dir).current()
        parsed = parse_query(query)
        if not parsed.text.strip():
            raise click.ClickException("QUERY needs words to search for besides its filters")
        request = SearchRequest(
            parsed.text, k=k, mode=mode, paths=parsed.paths, types=parsed.types,
            modified_after=parsed.modified_after, modified_before=parsed.modified_before,
            phrases=parsed.phrases, excluded=parsed.excluded,
        )
        # Files' sizes are checked, not their checksums: reading every byte of a large
        # index would cost more than the search (the service checks them at load).
        searcher = Searcher.open(generation, load_embedder(config), config.fusion,
                                 config.alpha, verify=False,
                                 vector_store=config.vector_store)
        results = searcher.search(request)
    except SearchError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        for hit in results.hits:
            click.echo(json.dumps(_hit_record(hit), ensure_ascii=False))
        return
    terminal = sys.stdout.isatty()
    if not results.hits:
        click.echo(f"No passages match {query!r}.")
    for hit in results.hits:
        click.echo(_shown(hit, set(query_terms(results.query)), terminal))


def _hit_record(hit: Hit) -> dict[str, Any]:
    passage = hit.passage
    return {
        "rank": hit.rank, "score": round(hit.score, 6), "passage_id": passage.id,
        "text": passage.text, **passage.place(),
        "document": {"id": passage.document_id, "title": hit.document_title,
                     "source": hit.document_source, "date": hit.document_date,
                     "author": hit.document_author},
    }


def _shown(hit: Hit, terms: set[str], terminal: bool) -> str:
    """A hit for reading: its title, where it is, then its text, wrapped and indented."""
    passage = hit.passage
    where = [hit.document_source]
    if hit.document_author:
        where.append(f"by {hit.document_author}")
    if hit.document_date:
        where.append(hit.document_date)
    if passage.section:
        where.append(" › ".join(passage.section))
    if hit.pages_label:
        where.append(hit.pages_label)
    if passage.part == "comment":
        where.append(f"comment by {passage.author}" if passage.author else "a reader's comment")
    width = min(shutil.get_terminal_size((100, 20)).columns, 100) - 4
    text = "\n".join(textwrap.wrap(passage.text, width, initial_indent="    ",
                                   subsequent_indent="    "))
    title = f"{hit.rank}. {hit.document_title}"
    meta = f"   {' · '.join(where)} · score {hit.score:.3f}"
    if terminal:
        title, meta, text = f"{_BOLD}{title}{_RESET}", f"{_DIM}{meta}{_RESET}", _marked(text, terms)
    return f"{title}\n{meta}\n{text}\n"


def _marked(text: str, terms: set[str]) -> str:
    """``text`` with the words matching the query's terms in bold, as the page marks them."""
    pieces, shown = [], 0
    for start, end in matched_spans(text, terms):
        pieces += [text[shown:start], _BOLD, text[start:end], _RESET]
        shown = end
    return "".join([*pieces, text[shown:]])


if __name__ == "__main__":
    main()
