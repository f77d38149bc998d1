"""The web pages: search box, results and document view, rendered on the server without JS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from index import MAX_OFFSET, MODES, PARTS, SearchResults
from index.query_syntax import parse_query
from index.request import file_type
from service import params
from service.admission import admitted
from service.document_view import layout
from service.highlight import Highlighter
from service.metrics import observe_search
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


@bp.get("/")
def index() -> str:
    """The search box."""
    return render_template("search.html", results=None, query="")


@bp.get("/search")
def search() -> str | Response:
    """One page of ranked passages; an empty query goes back to the search box. The box's
    syntax (type:pdf, in:notes/, "phrase", -word) is read; facets narrow the search.

    :raise 400: a malformed parameter or query syntax.
    :raise 503: no index is loaded.
    """
    typed = request.args.get("q", "")
    if not typed.strip():
        return redirect(url_for("web.index"))
    wanted = params.from_query_string(request.args, request.query_string, strict=False,
                                      syntax=True)
    # The page marks the sentences that answer unless told not to (the API only when asked).
    wanted = replace(wanted, highlights=wanted.highlights or "highlights" not in request.args)
    with admitted(wanted):
        # The page has no controls for these, and its own links do not carry them.
        results = get_searcher().search(replace(wanted, alpha=None, explain=False, facets=True))
    observe_search(results)
    page = _Page(typed.strip(), results, request.args, wanted.paths)
    offset, k = results.offset, results.k
    has_next = len(results.hits) == k and offset + k <= MAX_OFFSET
    return render_template(
        "search.html",
        results=results,
        query=page.typed,
        part=page.part,
        filters=page.given,
        highlight=Highlighter(results.query),
        previous_url=page.url(offset=max(offset - k, 0)) if offset > 0 else None,
        next_url=page.url(offset=offset + k) if has_next else None,
        mode_urls={mode: page.url(mode=mode) for mode in MODES},
        part_urls={_PART_LABELS[shown]: page.url(part=shown or "") for shown in (None, *PARTS)},
        part_label=_PART_LABELS[page.part],
        by_document=wanted.group_by_document,
        view_urls={"passages": page.url(group=""), "by document": page.url(group="doc")},
        view="by document" if wanted.group_by_document else "passages",
        facet_urls=page.facet_urls(),
        active=page.active(),
        alternate=page.url(offset=offset, endpoint="api.search", syntax="true"),
    )


_PART_LABELS = {None: "all", "article": "articles", "comment": "comments"}

# The filters a page's link keeps, as URL parameters (the box's syntax stays in q).
_FILTER_PARAMETERS = ("doc", "path", "type", "modified_after", "modified_before")


def _without_folders(typed: str) -> str:
    """The query as typed with its ``in:`` filters taken out."""
    while True:
        rest = next((rest for token, rest in parse_query(typed).parts
                     if token.lower().startswith("in:")), None)
        if rest is None:
            return typed
        typed = rest


class _Page:
    """A results page's links: the same search at another offset, in another mode or part,
    with one filter more (a folder: instead of those filtered on) or one less."""

    def __init__(self, typed: str, results: SearchResults, args: MultiDict[str, str],
                 paths: tuple[str, ...] = ()) -> None:
        self.typed, self.results = typed, results
        self.paths = paths  # the folders filtered on, given and typed
        self.part = args.get("part") or None
        self.group = args.get("group") or None
        self.given = {name: args.getlist(name) for name in _FILTER_PARAMETERS if name in args}

    def url(self, offset: int = 0, mode: str | None = None, part: str | None = None,
            group: str | None = None, endpoint: str = "web.search", q: str | None = None,
            given: dict[str, list[str]] | None = None, **extra: str) -> str:
        args: dict[str, Any] = {"q": self.typed if q is None else q, "k": self.results.k,
                                "mode": mode or self.results.mode,
                                **(self.given if given is None else given), **extra}
        if offset:
            args["offset"] = offset
        for name, value, default in (("part", part, self.part), ("group", group, self.group)):
            chosen = default if value is None else value
            if chosen:
                args[name] = chosen
        return url_for(endpoint, **args)

    def facet_urls(self) -> dict[str, list[tuple[str, int, str]]]:
        """For each facet, (value, documents, the link that adds it as a filter), leaving
        out the values already filtered on."""
        facets = self.results.facets
        shown: dict[str, list[tuple[str, int, str]]] = {"path": [], "type": []}
        if facets is None:
            return shown
        taken = self.given.get("type", [])
        values = [value for value in facets.types if value not in map(file_type, taken)]
        if len(values) > 1:  # one value alone would narrow nothing
            shown["type"] = [(value, facets.types[value],
                              self.url(given={**self.given, "type": [*taken, value]}))
                             for value in values]
        # A folder's link searches that folder alone (any other folder filter, given or
        # typed, taken off: folders are "either"), so its count is what the link keeps: the
        # candidates are all in the folders filtered on, and a folder shown is below one
        # of them. A folder holding every candidate would narrow nothing.
        documents = sum(facets.types.values())
        q = _without_folders(self.typed)
        shown["path"] = [(value, count, self.url(q=q, given={**self.given, "path": [value]}))
                         for value, count in facets.folders.items()
                         if count < documents
                         and not any(path.startswith(value) for path in self.paths)]
        return shown

    def active(self) -> list[tuple[str, str]]:
        """(what a filter says, the link that removes it) for each active filter, whether
        given as a parameter or typed in the box."""
        labels = {"doc": "document", "path": "in", "type": "type",
                  "modified_after": "modified after", "modified_before": "modified before"}
        active = []
        for name, values in self.given.items():
            for value in values:
                rest = {**self.given, name: [v for v in values if v != value]}
                active.append((f"{labels[name]} {value}", self.url(given=rest)))
        for token, rest_of_query in parse_query(self.typed).parts:
            if parse_query(rest_of_query).text:  # a query of filters alone is refused
                active.append((token, self.url(q=rest_of_query)))
        return active


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
