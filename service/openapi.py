"""The OpenAPI 3 description of the JSON API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from index import DEFAULT_MODE, MAX_K, MAX_OFFSET, MAX_QUERY_CHARS, MODES


def openapi_document() -> dict[str, Any]:
    error = {"$ref": "#/components/responses/Error"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Semantic search", "version": "1"},
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Rank passages for a query",
                    "parameters": [
                        {"name": "q", "in": "query", "required": True,
                         "schema": _query_schema()},
                        {"name": "k", "in": "query", "schema": _k_schema()},
                        {"name": "offset", "in": "query", "schema": _offset_schema()},
                        {"name": "mode", "in": "query", "schema": _mode_schema()},
                        {"name": "doc", "in": "query", "style": "form", "explode": True,
                         "schema": {"type": "array", "items": {"type": "string"}},
                         "description": "Only passages of these document ids."},
                        {"name": "alpha", "in": "query", "schema": _alpha_schema()},
                        {"name": "explain", "in": "query", "schema": {"type": "boolean"},
                         "description": "Add each hit's dense and lexical scores and ranks."},
                        {"name": "group", "in": "query", "schema": {"type": "string",
                                                                   "enum": ["doc"]},
                         "description": "One hit per document: its best passage."},
                    ],
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
            "/healthz": {"get": {"summary": "The process is alive",
                                 "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "An index is loaded",
                                "responses": {"200": {"description": "ready"}, "503": error}}},
        },
        "components": {"schemas": _schemas(), "responses": {"Error": {
            "description": "An error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }}},
    }


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# Some character other than whitespace (as Python's str.strip sees it), and no NUL anywhere.
_NOT_BLANK = "^[^\\x00]*([^\\s\\x00\\x1c-\\x1f\\x85]|\\ufeff)[^\\x00]*$"


def _query_schema() -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
            "pattern": _NOT_BLANK,
            "description": "Leading and trailing whitespace is ignored; the rest must remain."}


def _k_schema() -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}


def _offset_schema() -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}


def _mode_schema() -> dict[str, Any]:
    return {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE}


def _alpha_schema() -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1,
            "description": "Hybrid mode: weight of the dense ranking (lexical gets 1 - alpha)."}


def _schemas() -> dict[str, Any]:
    string, integer, number = {"type": "string"}, {"type": "integer"}, {"type": "number"}
    nullable_integer = {"type": "integer", "nullable": True}
    nullable_number = {"type": "number", "nullable": True}
    return {
        "SearchRequest": {"type": "object", "required": ["q"], "additionalProperties": False,
                          "properties": {"q": _query_schema(), **_or_null({
                              "k": _k_schema(), "offset": _offset_schema(),
                              "mode": _mode_schema(),
                              "doc": {"anyOf": [string, {"type": "array", "items": string}]},
                              "alpha": _alpha_schema(), "explain": {"type": "boolean"},
                              "group": {"type": "string", "enum": ["doc"]}})}},
        "SearchResults": {"type": "object", "properties": {
            "query": string, "mode": string, "k": integer, "offset": integer, "took_ms": number,
            "weak": {"type": "boolean"},
            "index": {"type": "object", "properties": {
                "generation": string, "model": string, "built_at": string}},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}},
        "Hit": {"type": "object", "properties": {
            "rank": integer, "score": number, "passage_id": string, "text": string,
            "start": integer, "end": integer, "other_matches": integer,
            # A rank and score are null when the hit was not among that ranking's candidates.
            "explain": {"type": "object", "properties": {
                "dense_score": nullable_number, "dense_rank": nullable_integer,
                "lexical_score": nullable_number, "lexical_rank": nullable_integer,
                "fused_score": number}},
            "document": {"type": "object", "properties": {
                "id": string, "title": string, "source": string, "url": string}}}},
        "Document": {"type": "object", "properties": {
            "id": string, "title": string, "source": string, "text": string,
            "passages": {"type": "array", "items": {"type": "object", "properties": {
                "id": string, "start": integer, "end": integer}}}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": string, "message": string}}}},
    }


def _or_null(properties: dict[str, Any]) -> dict[str, Any]:
    """Optional JSON fields, where null means the same as leaving the field out."""
    nullable = {}
    for name, schema in properties.items():
        schema = {**schema, "nullable": True}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        nullable[name] = schema
    return nullable
