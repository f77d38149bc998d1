"""The JSON API: /api/search, /api/documents/<id>, /api/status, health, readiness and the
OpenAPI document."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from index import Facets, Hit, InvalidQueryError, SearchResults
from service import params
from service.access_log import note_body_query
from service.admission import admitted
from service.errors import error_response
from service.metrics import observe_search
from service.openapi import openapi_document
from service.state import get_live_index, get_searcher, index_info
from service.watching import watch_status

bp = Blueprint("api", __name__)


@bp.route("/api/search", methods=["GET", "POST"])
def search() -> Response:
    """Rank passages for a query; GET takes a query string, POST a JSON object."""
    if request.method == "POST":
        if not request.is_json:
            return error_response(415, "send the body as application/json")
        body = request.get_json(silent=True)
        if body is None:
            raise InvalidQueryError("the body is not valid JSON")
        if isinstance(body, dict) and isinstance(body.get("q"), str):
            note_body_query(body["q"])  # logged only with log_queries, as a query string is
        wanted = params.from_json(body)
    else:
        wanted = params.from_query_string(request.args, request.query_string)
    searcher = get_searcher()
    with admitted(wanted):
        results = searcher.search(wanted)
    observe_search(results)
    return jsonify(_results_json(results, index_info(searcher)))


@bp.get("/api/documents/<path:doc_id>")
def document(doc_id: str) -> Response:
    """A whole document with its passages' offsets."""
    found, passages = get_searcher().get_document(doc_id)
    return jsonify({
        "id": found.id,
        "title": found.title,
        "source": found.source,
        "date": found.date,
        "author": found.author,
        "type": found.type,
        "size": found.size,
        "modified": found.modified,
        # Pages (or slides) with text; null in a document without pages.
        "page_count": len(found.structure.pages) or None,
        "text": found.text,
        "passages": [{"id": p.id, "start": p.start, "end": p.end, **p.place()}
                     for p in passages],
    })


@bp.get("/api/passages/<passage_id>/similar")
def similar(passage_id: str) -> Response:
    """The passages nearest in meaning to one passage, by its stored vector."""
    wanted = params.similar_from_query_string(request.args, request.query_string)
    searcher = get_searcher()
    like, results = searcher.similar(passage_id, wanted.k, wanted.offset, wanted.same_document)
    body = _results_json(results, index_info(searcher))
    del body["query"], body["weak"]
    return jsonify({"like": _hit_json(like), **body})


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when an index is loaded; says how fresh it is: its age and, when this service
    runs a folder watcher, the watcher's state (else ``watch`` is null)."""
    searcher = get_live_index().searcher
    if searcher is None:
        return error_response(503, "no index is loaded yet: run rebuild-index")
    watcher = watch_status()
    return jsonify({"status": "ready", "index": index_info(searcher),
                    "watch": watcher.summary() if watcher else None})


@bp.get("/api/status")
def status() -> Response:
    """How fresh the index is: the live generation and its age, and the folder watcher's
    state and last build (``state`` "off" when this service runs no watcher)."""
    searcher = get_live_index().searcher
    watcher = watch_status()
    watch = watcher.as_json() if watcher else {
        "state": "off", "detail": None, "pending": None, "building": False, "last_build": None}
    return jsonify({"index": index_info(searcher) if searcher else None, "watch": watch})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


def _results_json(results: SearchResults, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": results.query,
        "mode": results.mode,
        "k": results.k,
        "offset": results.offset,
        "took_ms": round(results.took_ms, 2),
        "weak": results.weak,
        "index": {key: info[key] for key in ("generation", "model", "built_at")},
        "results": [_hit_json(hit) for hit in results.hits],
        **({"facets": _facets_json(results.facets)} if results.facets else {}),
    }


def _facets_json(facets: Facets) -> dict[str, Any]:
    return {"folder": [{"value": f, "documents": n} for f, n in facets.folders.items()],
            "type": [{"value": t, "documents": n} for t, n in facets.types.items()]}


def _hit_json(hit: Hit) -> dict[str, Any]:
    passage = hit.passage
    extra: dict[str, Any] = {}
    if hit.other_matches is not None:
        extra["other_matches"] = hit.other_matches
    if hit.explanation is not None:
        extra["explain"] = asdict(hit.explanation)
    return {
        "rank": hit.rank,
        "score": round(hit.score, 6),
        "passage_id": passage.id,
        "text": passage.text,
        "start": passage.start,
        "end": passage.end,
        # Offsets into "text" of the sentences nearest the query in meaning, if asked for.
        "highlights": [{"start": start, "end": end} for start, end in hit.highlights],
        **passage.place(),
        "document": {
            "id": passage.document_id,
            "title": hit.document_title,
            "source": hit.document_source,
            "page_kind": hit.page_kind,
            "date": hit.document_date,
            "author": hit.document_author,
            "url": url_for("web.document", doc_id=passage.document_id, _anchor=f"p-{passage.id}"),
        },
        **extra,
    }
