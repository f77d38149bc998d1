"""One access-log line per request on stderr, and the request id that ties it to the client.

A client may name its request (``X-Request-Id``: up to 128 visible ASCII characters, say a
proxy's id); otherwise one is made. Either way it comes back in the response's header and in
JSON error bodies, so that a user reporting an error can be found in the log. The query
string is left out of the line unless ``log_queries`` is set: queries say what people look
for in private documents. With it set, a query sent in a JSON body (``POST /api/search``) is
logged too: the view, which parses the body anyway, hands its ``q`` over with
``note_body_query``, and the line ends with it encoded as a query string would be
(``body:q=...``; in JSON, ``"body_query": "q=..."``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from flask import Flask, Response, g, request

from index import Config

logger = logging.getLogger("service.access")

HEADER = "X-Request-Id"
# Visible ASCII, bounded: it is echoed in a header and written to the log, where a newline
# or an endless value would forge or flood lines.
_VALID_ID = re.compile(r"[!-~]{1,128}")


def request_id() -> str | None:
    """This request's id; None outside a request, or when the app logs no requests."""
    rid: str | None = g.get("request_id")
    return rid


def note_body_query(text: str) -> None:
    """Hand the access log the query text a request carried in its body, to be logged as a
    query string is when ``log_queries`` is set (and dropped otherwise)."""
    g.body_query = text


def _printable(text: str) -> str:
    """``text`` with control characters percent-encoded: a path may hold a newline (a file
    may be named with one), and a log line must stay one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else quote(c) for c in text)


def init_app(app: Flask, config: Config) -> None:
    """Give each request an id and log one line for it once it is answered."""
    as_json = config.log_format == "json"
    with_query = config.log_queries

    @app.before_request
    def start() -> None:
        g.request_started = time.perf_counter()
        given = request.headers.get(HEADER)
        g.request_id = given if given and _VALID_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def log(response: Response) -> Response:
        rid = g.get("request_id")
        if rid is None:  # a response from before this request's start (none so far)
            return response
        response.headers[HEADER] = rid
        if not logger.isEnabledFor(logging.INFO):
            return response
        ms = (time.perf_counter() - g.request_started) * 1000
        path = _printable(request.path)
        query = body_query = ""
        if with_query:
            query = request.query_string.decode("latin-1")
            noted: str | None = g.get("body_query")
            if noted is not None:  # percent-encoded: one token, no control character
                body_query = urlencode({"q": noted})
        if as_json:
            entry: dict[str, object] = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "method": request.method, "path": request.path,
                "status": response.status_code, "ms": round(ms, 1), "request_id": rid}
            if query:
                entry["query"] = query
            if body_query:
                entry["body_query"] = body_query
            logger.info("%s", json.dumps(entry, ensure_ascii=False))
        else:
            shown = f"{path}?{_printable(query)}" if query else path
            logger.info("%s %s %d %.1f ms id=%s%s", request.method, shown,
                        response.status_code, ms, rid,
                        f" body:{body_query}" if body_query else "")
        return response


def configure_logging(config: Config) -> None:
    """For ``python -m service``: as JSON lines, the access log is written bare (no time or
    level prefix), one JSON object a line, so that a log shipper can read it as it is."""
    if config.log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
