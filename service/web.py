"""The web pages: search box, results and document view, rendered on the server without JS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from index.search import MAX_OFFSET, MODES, SearchResults
from index.store import StoredPassage
from service import params
from service.highlight import highlight
from service.state import get_live_index, get_searcher, index_info

bp = Blueprint("web", __name__)
bp.add_app_template_filter(highlight, "highlight")


@dataclass(frozen=True)
class Section:
    """A piece of a document's text as the document page shows it."""

    passage_id: str | None  # None: text that no passage holds (a dropped repeat)
    repeated: str  # the start of the passage that the previous one already showed
    text: str


@bp.app_context_processor
def page_context() -> dict[str, Any]:
    """What every page shows, error pages too: the index served (or None) and the modes."""
    searcher = get_live_index().searcher
    return {"index": index_info(searcher) if searcher else None, "modes": MODES}


@bp.get("/")
def index() -> str:
    """The search box."""
    return render_template("search.html", results=None)


@bp.get("/search")
def search() -> str | Response:
    """One page of ranked passages; an empty query goes back to the search box.

    :raise 400: a malformed parameter.
    :raise 503: no index is loaded.
    """
    if not request.args.get("q", "").strip():
        return redirect(url_for("web.index"))
    wanted = params.from_query_string(request.args, request.query_string)
    results = get_searcher().search(wanted.q, wanted.k, wanted.offset, wanted.mode, wanted.doc)
    return render_template(
        "search.html",
        results=results,
        previous_url=_page_url(results, wanted.doc, results.offset - results.k)
        if results.offset > 0 else None,
        next_url=_page_url(results, wanted.doc, results.offset + results.k)
        if len(results.hits) == results.k and results.offset + results.k <= MAX_OFFSET
        else None,
        alternate=url_for("api.search", **_query_args(results, wanted.doc, results.offset)),
    )


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str) -> str:
    """A whole document, passage by passage; ``#p-<passage id>`` jumps to one.

    :raise 404: no document with that id.
    """
    found, passages = get_searcher().get_document(doc_id)
    return render_template(
        "document.html",
        document=found,
        sections=_sections(found.text, passages),
        query=request.args.get("q", ""),
        alternate=url_for("api.document", doc_id=found.id),
    )


def _page_url(results: SearchResults, doc: tuple[str, ...], offset: int) -> str:
    return url_for("web.search", **_query_args(results, doc, max(offset, 0)))


def _query_args(results: SearchResults, doc: tuple[str, ...], offset: int) -> dict[str, Any]:
    args: dict[str, Any] = {"q": results.query, "k": results.k, "mode": results.mode}
    if offset:
        args["offset"] = offset
    if doc:
        args["doc"] = list(doc)
    return args


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
