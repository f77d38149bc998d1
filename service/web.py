"""The web pages: search box, results and document view, rendered on the server without JS."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from index import MAX_OFFSET, MODES, SearchResults, StoredPassage
from service import params
from service.admission import admitted
from service.highlight import Highlighter
from service.state import get_live_index, get_searcher, index_info

bp = Blueprint("web", __name__)


@dataclass(frozen=True)
class Section:
    """A piece of a document's text as the document page shows it."""

    passage_id: str | None  # None: text that no passage holds (a dropped repeat)
    repeated: str  # the start of the passage that the previous one already showed
    text: str


@bp.app_context_processor
def footer() -> dict[str, Any]:
    """What every page's footer shows, error pages too: the index served, or None."""
    searcher = get_live_index().searcher
    return {"index": index_info(searcher) if searcher else None}


@bp.get("/")
def index() -> str:
    """The search box."""
    return render_template("search.html", results=None, query="")


@bp.get("/search")
def search() -> str | Response:
    """One page of ranked passages; an empty query goes back to the search box.

    :raise 400: a malformed parameter.
    :raise 503: no index is loaded.
    """
    if not request.args.get("q", "").strip():
        return redirect(url_for("web.index"))
    wanted = params.from_query_string(request.args, request.query_string, strict=False)
    with admitted(wanted):
        # The page has no controls for these, and its own links do not carry them.
        results = get_searcher().search(
            replace(wanted, alpha=None, explain=False, group_by_document=False)
        )
    offset, k, doc = results.offset, results.k, wanted.document_ids
    has_previous = offset > 0
    has_next = len(results.hits) == k and offset + k <= MAX_OFFSET
    return render_template(
        "search.html",
        results=results,
        query=results.query,
        highlight=Highlighter(results.query),
        previous_url=_search_url(results, doc, max(offset - k, 0)) if has_previous else None,
        next_url=_search_url(results, doc, offset + k) if has_next else None,
        mode_urls={mode: _search_url(results, doc, mode=mode) for mode in MODES},
        alternate=_search_url(results, doc, offset, endpoint="api.search"),
    )


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str) -> str:
    """A whole document, passage by passage; ``#p-<passage id>`` jumps to one.

    :raise 400: a malformed ``q`` (the words to mark), as for a search.
    :raise 404: no document with that id.
    """
    query = params.words_to_mark(request.args, request.query_string)
    found, passages = get_searcher().get_document(doc_id)
    return render_template(
        "document.html",
        document=found,
        sections=_sections(found.text, passages),
        query=query,
        highlight=Highlighter(query),
        alternate=url_for("api.document", doc_id=found.id),
    )


def _search_url(
    results: SearchResults, doc: tuple[str, ...], offset: int = 0, mode: str | None = None,
    endpoint: str = "web.search",
) -> str:
    """The same search (query, k, mode, documents) at another offset or in another mode."""
    args: dict[str, Any] = {"q": results.query, "k": results.k, "mode": mode or results.mode}
    if offset:
        args["offset"] = offset
    if doc:
        args["doc"] = list(doc)
    return url_for(endpoint, **args)


def _sections(text: str, passages: list[StoredPassage]) -> list[Section]:
    """The document's text cut at passage bounds, each character shown once where it can be.

    Passages may overlap (a sentence repeated when a long paragraph is cut), and text between
    them that is not whitespace is a dropped repeat, shown as a section of its own.
    """
    sections: list[Section] = []
    shown = 0
    for passage in passages:
        gap = text[shown : passage.start].strip()
        if gap:
            sections.append(Section(None, "", gap))
        fresh = min(max(passage.start, shown), passage.end)
        sections.append(Section(
            passage.id, text[passage.start : fresh], text[fresh : passage.end]
        ))
        shown = max(shown, passage.end)
    tail = text[shown:].strip()
    if tail:
        sections.append(Section(None, "", tail))
    return sections
