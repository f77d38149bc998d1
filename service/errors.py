"""Error responses in one place: JSON under the API, an HTML page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from index import (
    DocumentNotFoundError,
    IndexNotBuiltError,
    InvalidQueryError,
    VectorStoreUnavailableError,
)
from service.access_log import request_id

logger = logging.getLogger(__name__)

# Paths whose errors are JSON; everything else is a page for people. /metrics is read by a
# scraper, which a 401 page would not serve.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/openapi.json", "/metrics")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",  # from the server (service/server.py)
    500: "internal_error",
    501: "not_implemented",  # from the server: a Transfer-Encoding other than chunked
    503: "unavailable",
}


def wants_json(path: str) -> bool:
    """Whether errors on `path` are JSON (else a page, or plain text from the server)."""
    return path.startswith(JSON_PREFIXES)


def error_document(status: int, message: str,
                   request_id: str | None = None) -> dict[str, dict[str, str]]:
    """The JSON error shape: ``{"error": {"code": ..., "message": ..., "request_id": ...}}``
    (the id, which the access log shows too, when the request has one)."""
    error = {"code": _CODES.get(status, "error"), "message": message}
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def error_response(status: int, message: str) -> Response:
    """The error body for this request's kind of path."""
    if wants_json(request.path):
        response = jsonify(error_document(status, message, request_id()))
    else:
        response = make_response(render_template("error.html", status=status, message=message,
                                                 request_id=request_id()))
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidQueryError)
    def invalid_query(error: InvalidQueryError) -> Response:
        return error_response(400, str(error))

    @app.errorhandler(DocumentNotFoundError)
    def document_not_found(error: DocumentNotFoundError) -> Response:
        return error_response(404, str(error))

    @app.errorhandler(IndexNotBuiltError)
    def no_index(error: IndexNotBuiltError) -> Response:
        return error_response(503, str(error))

    @app.errorhandler(VectorStoreUnavailableError)
    def store_unavailable(error: VectorStoreUnavailableError) -> Response:
        return error_response(503, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, error.description or error.name)
        # 405 must say which methods are allowed.
        response.headers.extend(h for h in error.get_headers() if h[0] == "Allow")
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Log the traceback, show nothing of it: internals are not for the client.
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, InternalServerError.description)
