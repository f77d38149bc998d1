"""The OpenAPI 3 description of the JSON API, served at /openapi.json.

The search parameters and the POST body are generated from service.params, the table the
requests are read with.
"""

from __future__ import annotations

from typing import Any

from service.params import PARAMETERS, QUERY, SIMILAR_PARAMETERS


def openapi_document() -> dict[str, Any]:
    error = {"$ref": "#/components/responses/Error"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Semantic search", "version": "1"},
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Rank passages for a query",
                    "parameters": [p.query_parameter() for p in PARAMETERS],
                    "responses": {"200": _ok("SearchResults"), "400": error, "503": error},
                },
                "post": {
                    "summary": "Rank passages for a query given as a JSON object",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SearchRequest"}}}},
                    "responses": {"200": _ok("SearchResults"), "400": error, "413": error,
                                  "415": error, "503": error},
                },
            },
            "/api/documents/{id}": {
                "get": {
                    "summary": "A whole document with its passages",
                    "parameters": [{"name": "id", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": _ok("Document"), "404": error, "503": error},
                },
            },
            "/api/passages/{passage_id}/similar": {
                "get": {
                    "summary": "More like this: passages nearest in meaning to a passage, by "
                               "its stored vector, itself and (unless same_document) its "
                               "document's passages left out",
                    "parameters": [{"name": "passage_id", "in": "path", "required": True,
                                    "schema": {"type": "string"}},
                                   *(p.query_parameter() for p in SIMILAR_PARAMETERS)],
                    "responses": {"200": _ok("SimilarResults"), "400": error, "404": error,
                                  "503": error},
                },
            },
            "/healthz": {"get": {"summary": "The process is alive",
                                 "responses": {"200": {"description": "alive"}}}},
            "/api/status": {"get": {
                "summary": "How fresh the index is: its age, the folder watcher's state and "
                           "last build",
                "responses": {"200": _ok("Status")}}},
            "/readyz": {"get": {"summary": "An index is loaded",
                                "responses": {"200": _ok("Ready"), "503": error}}},
        },
        "components": {"schemas": _schemas(), "responses": {"Error": {
            "description": "An error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }}},
    }


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _schemas() -> dict[str, Any]:
    string, integer, number = {"type": "string"}, {"type": "integer"}, {"type": "number"}
    nullable_integer = {"type": "integer", "nullable": True}
    nullable_number = {"type": "number", "nullable": True}
    # Where a passage is: its heading trail (top first; empty outside any section), its first
    # and last page or slide (null in a document without pages), whether OCR read it, and
    # its part of a web page: "article" or "comment"; a comment also has its author (null if
    # the page does not name one).
    place = {"section": {"type": "array", "items": string}, "page": nullable_integer,
             "last_page": nullable_integer, "ocr": {"type": "boolean"},
             "part": {"type": "string", "enum": ["article", "comment"]},
             "author": {"type": "string", "nullable": True}}
    # What a folder watcher is doing (index.watch.WatchStatus); /api/status adds "off".
    watch_states = ["starting", "waiting", "watching", "polling", "folder missing",
                    "folder empty", "retrying", "stopped"]
    return {
        "SearchRequest": {"type": "object", "additionalProperties": False,
                          "required": [QUERY.name],
                          "properties": {p.name: p.body_schema() for p in PARAMETERS}},
        "SearchResults": {"type": "object", "properties": {
            "query": string, "mode": string, "k": integer, "offset": integer, "took_ms": number,
            "weak": {"type": "boolean"},
            "index": {"type": "object", "properties": {
                "generation": string, "model": string, "built_at": string}},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
            # With facets=true: the documents of every candidate the ranking considered
            # (not only this page's), counted by folder and type.
            "facets": {"type": "object", "properties": {
                "folder": {"type": "array", "items": {"$ref": "#/components/schemas/Count"},
                           "description": "Documents in each folder (\"notes/\") and its "
                                          "subfolders: what the path filter would keep."},
                "type": {"type": "array", "items": {"$ref": "#/components/schemas/Count"}}}}}},
        "Count": {"type": "object", "properties": {"value": string, "documents": integer}},
        # The passage asked about (rank 0, score 1) and its nearest, ranked by cosine.
        "SimilarResults": {"type": "object", "properties": {
            "like": {"$ref": "#/components/schemas/Hit"}, "mode": string, "k": integer,
            "offset": integer, "took_ms": number,
            "index": {"type": "object", "properties": {
                "generation": string, "model": string, "built_at": string}},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}},
        "Hit": {"type": "object", "properties": {
            "rank": integer, "score": number, "passage_id": string, "text": string,
            "start": integer, "end": integer, **place, "other_matches": integer,
            # With highlights=true: the sentences of "text" nearest the query in meaning (the
            # best, and the next best when it scores nearly as well), as offsets into "text"
            # (end exclusive), in order; otherwise, and for similar passages, empty.
            "highlights": {"type": "array", "items": {
                "type": "object", "required": ["start", "end"], "additionalProperties": False,
                "properties": {"start": {"type": "integer", "minimum": 0},
                               "end": {"type": "integer", "minimum": 1}}}},
            # A rank and score are null when the hit was not among that ranking's candidates.
            "explain": {"type": "object", "properties": {
                "dense_score": nullable_number, "dense_rank": nullable_integer,
                "lexical_score": nullable_number, "lexical_rank": nullable_integer,
                "fused_score": number}},
            "document": {"type": "object", "properties": {
                "id": string, "title": string, "source": string, "url": string,
                # What "page" counts: "page" (PDF) or "slide"; null for unpaged documents.
                "page_kind": {"type": "string", "nullable": True, "enum": ["page", "slide"]},
                # As the file states them, as on Document; null when it states none.
                "date": {"type": "string", "nullable": True},
                "author": {"type": "string", "nullable": True},
            }}}},
        "Document": {"type": "object", "properties": {
            "id": string, "title": string, "source": string, "text": string,
            # As the file states them (a web page's metadata): date of publication YYYY-MM-DD.
            "date": {"type": "string", "nullable": True},
            "author": {"type": "string", "nullable": True},
            # Of the file: its extension ("pdf"), bytes and modification time (UTC,
            # 2026-03-01T09:30:00Z; null in an index built before it was recorded).
            "type": string, "size": integer, "modified": {"type": "string", "nullable": True},
            "page_count": nullable_integer,  # pages or slides with text; null if unpaged
            "passages": {"type": "array", "items": {"type": "object", "properties": {
                "id": string, "start": integer, "end": integer, **place}}}}},
        "IndexInfo": {"type": "object", "properties": {
            "generation": string, "model": string, "built_at": string,
            "age_seconds": number,  # since built_at
            "documents": integer, "passages": integer,
            # Files the generation left out (listed at /skipped); null: not recorded.
            "skipped": nullable_integer}},
        "Ready": {"type": "object", "properties": {
            "status": string, "index": {"$ref": "#/components/schemas/IndexInfo"},
            # null: this service runs no folder watcher (no --watch).
            "watch": {"type": "object", "nullable": True, "properties": {
                "state": {"type": "string", "enum": watch_states},
                "pending": {"type": "boolean"},
                # Both null before the watcher's first build.
                "last_build_ok": {"type": "boolean", "nullable": True},
                "last_build_finished_at": {"type": "string", "nullable": True}}}}},
        "Status": {"type": "object", "properties": {
            # null: no index is loaded yet.
            "index": {"allOf": [{"$ref": "#/components/schemas/IndexInfo"}], "nullable": True},
            "watch": {"type": "object", "properties": {
                "state": {"type": "string", "enum": ["off", *watch_states]},
                "detail": {"type": "string", "nullable": True},  # why polling, the error
                "pending": {"type": "boolean", "nullable": True},  # null when off
                "building": {"type": "boolean"},
                "last_build": {"type": "object", "nullable": True, "properties": {
                    "ok": {"type": "boolean"}, "error": {"type": "string", "nullable": True},
                    "finished_at": string, "seconds": number,
                    "generation": {"type": "string", "nullable": True},
                    "added": integer, "changed": integer, "removed": integer,
                    "skipped": {"type": "array", "items": {"type": "object", "properties": {
                        "source": string, "reason": string}}}}}}}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": string, "message": string,
            "request_id": string}}}},
    }

