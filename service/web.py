"""The web pages: search box, results and document view, rendered on the server without JS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from index import MAX_OFFSET, MODES, PARTS, SearchResults
from service import params
from service.admission import admitted
from service.document_view import layout
from service.highlight import Highlighter
from service.state import get_live_index, get_searcher, index_info, skipped_files

bp = Blueprint("web", __name__)


@bp.app_context_processor
def footer() -> dict[str, Any]:
    """What every page's footer shows, error pages too: the index served, or None."""
    searcher = get_live_index().searcher
    return {"index": index_info(searcher) if searcher else None}


@bp.app_template_filter()
def ago(seconds: float) -> str:
    """An age in words: "just now", "1 minute ago", "3 minutes ago", "2 hours ago", "4 days
    ago"."""
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(seconds // length)
        if count:
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


@bp.app_template_global()
def pages_label(kind: str | None, pages: tuple[int, int]) -> str:
    """Where a passage is: "p. 7", "pp. 7–8", "slide 3", "slides 3–4"."""
    first, last = pages
    if kind == "slide":
        return f"slide {first}" if first == last else f"slides {first}–{last}"
    return f"p. {first}" if first == last else f"pp. {first}–{last}"


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
    # The page marks the sentences that answer unless told not to (the API only when asked).
    wanted = replace(wanted, highlights=wanted.highlights or "highlights" not in request.args)
    with admitted(wanted):
        # The page has no controls for these, and its own links do not carry them.
        results = get_searcher().search(
            replace(wanted, alpha=None, explain=False, group_by_document=False)
        )
    offset, k, doc, part = results.offset, results.k, wanted.document_ids, wanted.part
    has_previous = offset > 0
    has_next = len(results.hits) == k and offset + k <= MAX_OFFSET
    return render_template(
        "search.html",
        results=results,
        query=results.query,
        part=part,
        highlight=Highlighter(results.query),
        previous_url=_search_url(results, doc, part, max(offset - k, 0)) if has_previous else None,
        next_url=_search_url(results, doc, part, offset + k) if has_next else None,
        mode_urls={mode: _search_url(results, doc, part, mode=mode) for mode in MODES},
        part_urls={shown: _search_url(results, doc, shown) for shown in (None, *PARTS)},
        alternate=_search_url(results, doc, part, offset, endpoint="api.search"),
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
        sections=layout(found, passages),
        query=query,
        highlight=Highlighter(query),
        alternate=url_for("api.document", doc_id=found.id),
    )


@bp.get("/passages/<passage_id>/similar")
def similar(passage_id: str) -> str:
    """More like this: the passages nearest in meaning to one, other documents' only.

    :raise 400: a malformed parameter.
    :raise 404: no passage with that id.
    """
    wanted = params.similar_from_query_string(request.args, request.query_string, strict=False)
    like, results = get_searcher().similar(passage_id, wanted.k, wanted.offset)
    offset, k = results.offset, results.k

    def page_url(at: int) -> str:
        args: dict[str, Any] = {"k": k, "offset": at} if at else {"k": k}
        return url_for("web.similar", passage_id=passage_id, **args)

    return render_template(
        "similar.html",
        like=like,
        results=results,
        query="",
        highlight=Highlighter(""),
        previous_url=page_url(max(offset - k, 0)) if offset > 0 else None,
        next_url=page_url(offset + k) if len(results.hits) == k and offset + k <= MAX_OFFSET
        else None,
        alternate=url_for("api.similar", passage_id=passage_id, k=k),
    )


@bp.get("/skipped")
def skipped() -> str:
    """The files the live index left out, each with the reason.

    :raise 503: no index is loaded.
    """
    searcher = get_searcher()
    return render_template("skipped.html", skipped=skipped_files(searcher),
                           generation=searcher.generation)


def _search_url(
    results: SearchResults, doc: tuple[str, ...], part: str | None, offset: int = 0,
    mode: str | None = None, endpoint: str = "web.search",
) -> str:
    """The same search (query, k, mode, documents) of ``part`` (None: all) at another offset
    or in another mode."""
    args: dict[str, Any] = {"q": results.query, "k": results.k, "mode": mode or results.mode}
    if offset:
        args["offset"] = offset
    if part:
        args["part"] = part
    if doc:
        args["doc"] = list(doc)
    return url_for(endpoint, **args)
