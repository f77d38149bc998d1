"""Bad requests over real HTTP to the production server (waitress): one table row per case.

Every row gets its documented status with a JSON error under /api/ (an HTML page on the web
routes), never a 500 or a traceback, and the server answers a good request right after it.
Requests go out byte for byte as written (http.client sends the path unchanged), so encoded
slashes, ``../`` and invalid percent-encodings reach the server as an attacker would send them.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from index import Config, Embedder
from service import MAX_BODY_BYTES, create_app
from service.headers import SECURITY_HEADERS
from service.server import create_server

DOC = "000_d5f4f69b644cfd4d"  # a document of the sample corpus
JSON = "application/json"


@dataclass(frozen=True)
class Case:
    method: str
    target: str  # path and query string, sent as is
    status: int
    message: str = ""  # a part of the error message
    body: bytes | None = None
    content_type: str | None = None

    @property
    def id(self) -> str:
        shown = self.target if len(self.target) <= 60 else self.target[:57] + "..."
        body = "" if self.body is None else f" {self.body[:40]!r}"
        return f"{self.method} {shown}{body} -> {self.status}"


def post(body: Any, status: int, message: str = "", content_type: str | None = JSON) -> Case:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Case("POST", "/api/search", status, message, raw, content_type)


def get(target: str, status: int, message: str = "") -> Case:
    return Case("GET", target, status, message)


API_CASES = [
    # q: missing, empty, blank, over the limit
    get("/api/search", 400, "q is required"),
    get("/api/search?q=", 400, "q must not be empty"),
    get("/api/search?q=%20%20%09%0A", 400, "q must not be empty"),
    get("/api/search?q=%E3%80%80%C2%A0", 400, "q must not be empty"),  # ideographic, nbsp
    get("/api/search?q=" + "a" * 60_001, 400, "at most 60000 characters"),
    get("/api/search?q=%20" + "a" * 60_000, 400, "at most 60000 characters"),  # counted as sent
    # k and offset
    get("/api/search?q=x&k=0", 400, "k must be between 1 and 100"),
    get("/api/search?q=x&k=-1", 400, "k must be between 1 and 100"),
    get("/api/search?q=x&k=101", 400, "k must be between 1 and 100"),
    get("/api/search?q=x&k=1e9", 400, "k must be an integer"),
    get("/api/search?q=x&k=1000000000", 400, "k must be between 1 and 100"),
    get("/api/search?q=x&k=99999999999999999999", 400, "k must be between 1 and 100"),
    get("/api/search?q=x&k=" + "9" * 31, 400, "k must be an integer"),
    get("/api/search?q=x&k=abc", 400, "k must be an integer"),
    get("/api/search?q=x&k=", 400, "k must be an integer"),
    get("/api/search?q=x&k=2.5", 400, "k must be an integer"),
    get("/api/search?q=x&k=%EF%BC%95", 400, "k must be an integer"),  # fullwidth digit 5
    get("/api/search?q=x&offset=-1", 400, "offset must be between 0 and 1000"),
    get("/api/search?q=x&offset=1001", 400, "offset must be between 0 and 1000"),
    get("/api/search?q=x&offset=1e9", 400, "offset must be an integer"),
    get("/api/search?q=x&offset=abc", 400, "offset must be an integer"),
    get("/api/search?q=x&offset=", 400, "offset must be an integer"),
    # other parameters
    get("/api/search?q=x&mode=fuzzy", 400, "mode must be one of"),
    get("/api/search?q=x&mode=", 400, "mode must be one of"),
    get("/api/search?q=x&mode=DENSE", 400, "mode must be one of"),
    get("/api/search?q=x&alpha=1.5", 400, "alpha must be a number between 0 and 1"),
    get("/api/search?q=x&alpha=nan", 400, "alpha must be a number"),
    get("/api/search?q=x&alpha=abc", 400, "alpha must be a number"),
    get("/api/search?q=x&alpha=1e999", 400, "alpha must be a number between 0 and 1"),
    get("/api/search?q=x&alpha=", 400, "alpha must be a number"),
    get("/api/search?q=x&explain=maybe", 400, "explain must be true or false"),
    get("/api/search?q=x&group=passage", 400, "group must be doc"),
    # repeated parameters (doc alone may repeat)
    get("/api/search?q=x&q=y", 400, "q must be given once"),
    get("/api/search?q=x&k=1&k=2", 400, "k must be given once"),
    get("/api/search?q=x&offset=0&offset=0", 400, "offset must be given once"),
    get("/api/search?q=x&mode=dense&mode=lexical", 400, "mode must be given once"),
    # invalid UTF-8 and NUL in q
    get("/api/search?q=%ff%fe", 400, "not valid UTF-8"),
    get("/api/search?q=caf%E9", 400, "not valid UTF-8"),  # Latin-1 é
    get("/api/search?q=%C0%AF", 400, "not valid UTF-8"),  # overlong /
    get("/api/search?q=%ED%A0%80", 400, "not valid UTF-8"),  # an encoded surrogate
    get("/api/search?q=%F4%90%80%80", 400, "not valid UTF-8"),  # beyond U+10FFFF
    get("/api/search?q=x&doc=%ff", 400, "not valid UTF-8"),
    get("/api/search?q=a%00b", 400, "NUL"),
    get("/api/search?q=%00", 400, "NUL"),
    # POST bodies: malformed JSON, wrong types, wrong content type, too large
    post(b"{not json", 400, "not valid JSON"),
    post(b'{"q": "x",}', 400, "not valid JSON"),
    post(b"", 400, "not valid JSON"),
    post(b'{"q": "\xff"}', 400, "not valid JSON"),  # invalid UTF-8 inside JSON
    post(b"null", 400, "not valid JSON"),
    post(["q"], 400, "must be a JSON object"),
    post("q", 400, "must be a JSON object"),
    post(5, 400, "must be a JSON object"),
    post({}, 400, "q is required"),
    post({"q": ""}, 400, "q must not be empty"),
    post({"q": " \t"}, 400, "q must not be empty"),
    post({"q": "a" * 60_001}, 400, "at most 60000 characters"),
    post({"q": None}, 400, "q is required"),
    post({"q": 5}, 400, "q must be a string"),
    post({"q": ["x"]}, 400, "q must be a string"),
    post({"q": {"$ne": ""}}, 400, "q must be a string"),
    post({"q": "a\u0000b"}, 400, "NUL"),
    post({"q": "x", "k": "ten"}, 400, "k must be an integer"),
    post({"q": "x", "k": 2.5}, 400, "k must be an integer"),
    post({"q": "x", "k": True}, 400, "k must be an integer"),
    post({"q": "x", "k": 0}, 400, "k must be between 1 and 100"),
    post({"q": "x", "k": 10**30}, 400, "k must be between 1 and 100"),
    post({"q": "x", "offset": -1}, 400, "offset must be between 0 and 1000"),
    post({"q": "x", "offset": [0]}, 400, "offset must be an integer"),
    post({"q": "x", "mode": 3}, 400, "mode must be a string"),
    post({"q": "x", "mode": "fuzzy"}, 400, "mode must be one of"),
    post({"q": "x", "doc": [1]}, 400, "doc must be"),
    post({"q": "x", "doc": {"id": "x"}}, 400, "doc must be"),
    post({"q": "x", "alpha": "high"}, 400, "alpha must be a number"),
    post({"q": "x", "alpha": True}, 400, "alpha must be a number"),
    post({"q": "x", "explain": "maybe"}, 400, "explain must be true or false"),
    post({"q": "x", "group": 1}, 400, "group must be doc"),
    post({"q": "x", "limit": 3}, 400, "unknown field 'limit'"),
    post({"q": "x"}, 415, "application/json", content_type="text/plain"),
    post(b"q=x", 415, "application/json", content_type="application/x-www-form-urlencoded"),
    post({"q": "x"}, 415, "application/json", content_type=None),
    post(b'{"q": "' + b"x" * MAX_BODY_BYTES + b'"}', 413),
    # documents: unknown, traversal, encoded slashes, NUL, very long
    get("/api/documents/no-such-document", 404, "no document with id"),
    get("/api/documents/../../etc/passwd", 404, "no document with id"),
    get("/api/documents/..%2F..%2Fetc%2Fpasswd", 404, "no document with id"),
    get("/api/documents/%2e%2e/%2e%2e/etc/passwd", 404, "no document with id"),
    get("/api/documents/%2Fetc%2Fpasswd", 404),  # no route: an id never starts with /
    get(f"/api/documents/{DOC}%2F..%2F{DOC}", 404, "no document with id"),
    get(f"/api/documents/{DOC}%00", 404, "no document with id"),
    get("/api/documents/%ff%fe", 404, "no document with id"),
    get("/api/documents/" + "a" * 8000, 404, "no document with id"),
    get("/api/documents/", 404),
    # wrong methods and unknown routes
    Case("DELETE", "/api/search?q=x", 405),
    Case("PUT", "/api/search", 405, body=b'{"q": "x"}', content_type=JSON),
    Case("PATCH", "/api/search", 405),
    Case("POST", f"/api/documents/{DOC}", 405),
    Case("DELETE", f"/api/documents/{DOC}", 405),
    Case("POST", "/healthz", 405),
    Case("PUT", "/readyz", 405),
    Case("POST", "/openapi.json", 405),
    get("/api/nothing-here", 404),
    get("/api/", 404),
    get("/api/search/extra", 404),
]

WEB_CASES = [
    get("/search?q=x&k=abc", 400, "k must be an integer"),
    get("/search?q=x&k=0", 400, "k must be between 1 and 100"),
    get("/search?q=x&offset=1e9", 400, "offset must be an integer"),
    get("/search?q=x&mode=fuzzy", 400, "mode must be one of"),
    get("/search?q=x&q=y", 400, "q must be given once"),
    get("/search?q=%ff%fe", 400, "not valid UTF-8"),
    get("/search?q=a%00b", 400, "NUL"),
    get("/search?q=" + "a" * 60_001, 400, "at most 60000 characters"),
    get("/documents/no-such-document", 404, "no document with id"),
    get("/documents/..%2F..%2Fetc%2Fpasswd", 404, "no document with id"),
    get("/documents/" + "b" * 8000, 404, "no document with id"),
    get("/static/../service/__init__.py", 404),
    get("/static/..%2F__init__.py", 404),
    get("/static/%2e%2e/%2e%2e/pyproject.toml", 404),
    get("/no-such-page", 404),
    Case("POST", "/search?q=x", 405),
    Case("PUT", "/", 405),
    Case("DELETE", f"/documents/{DOC}", 405),
]

# The boundaries of the valid ranges, on the other side of the same rows.
GOOD_CASES = [
    get("/api/search?q=x&k=1", 200),
    get("/api/search?q=x&k=100", 200),
    get("/api/search?q=x&offset=0", 200),
    get("/api/search?q=x&offset=101", 200),
    get("/api/search?q=x&offset=1000", 200),
    get("/api/search?q=" + "a" * 60_000, 200),
    get("/api/search?q=x&doc=a&doc=b", 200),
    get("/api/search?q=%F0%9F%98%80", 200),  # an emoji
    post({"q": "x", "k": 1, "doc": DOC}, 200),
    post({"q": "x"}, 200, content_type="application/json; charset=utf-8"),
    get(f"/api/documents/{DOC}", 200),
]


@pytest.fixture(scope="module")
def server(sample_index: Config, embedder: Embedder) -> Iterator[tuple[str, int]]:
    """The app served by waitress, as ``python -m service`` serves it, on a free port."""
    app: Flask = create_app(sample_index, embedder=embedder, watch=False)
    served = create_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=served.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", served.effective_port  # type: ignore[union-attr]
    finally:
        # Closed from the server's own thread: sockets closed under its select() from here
        # made it fail with EBADF now and then. With its map empty, its loop ends.
        served.trigger.pull_trigger(  # type: ignore[union-attr]
            lambda: served.asyncore.close_all(served._map)  # type: ignore[union-attr]
        )
        thread.join(timeout=10)
        served.task_dispatcher.shutdown()  # type: ignore[union-attr]
        assert not thread.is_alive()


def send(address: tuple[str, int], case: Case) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=60)
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    try:
        # skip_accept_encoding: the request is exactly what the row says, nothing added.
        connection.putrequest(case.method, case.target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if case.body is not None or case.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(case.body or b"")))
        connection.endheaders(case.body)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def still_serving(address: tuple[str, int]) -> None:
    response, body = send(address, get("/api/search?q=Iraq&k=1", 200))
    assert response.status == 200, body
    assert len(json.loads(body)["results"]) == 1


def assert_no_server_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api_error_is_json(
    server: tuple[str, int], case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    response, raw = send(server, case)
    text = raw.decode("utf-8")
    assert response.status == case.status, text
    assert response.getheader("Content-Type") == JSON
    error = json.loads(text)["error"]
    # The app's errors carry the request's id; the server's own (413, 431) never reach it.
    assert set(error) - {"request_id"} == {"code", "message"}
    assert error.get("request_id", response.getheader("X-Request-Id")) == response.getheader(
        "X-Request-Id")
    assert error["code"] and error["code"] != "internal_error"
    assert case.message in error["message"]
    assert "Traceback" not in text and 'File "' not in text
    if case.status == 405:
        assert response.getheader("Allow")
    assert_security_headers(response)
    still_serving(server)
    assert_no_server_error_logged(caplog)


@pytest.mark.parametrize("case", WEB_CASES, ids=[c.id for c in WEB_CASES])
def test_web_error_is_a_page(
    server: tuple[str, int], case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    response, raw = send(server, case)
    text = raw.decode("utf-8")
    assert response.status == case.status, text
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert f'<p class="status">{case.status}</p>' in text
    assert case.message in text
    assert "Traceback" not in text and 'File "' not in text
    assert_security_headers(response)
    still_serving(server)
    assert_no_server_error_logged(caplog)


@pytest.mark.parametrize("case", GOOD_CASES, ids=[c.id for c in GOOD_CASES])
def test_the_valid_boundaries_are_answered(server: tuple[str, int], case: Case) -> None:
    response, raw = send(server, case)
    assert response.status == 200, raw
    assert response.getheader("Content-Type") == JSON


def assert_security_headers(response: http.client.HTTPResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.getheader(name) == value, name


def test_a_huge_body_is_refused_before_it_is_read(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (300 * 1024 * 1024) + b"{" * 65536)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_hundreds_of_idle_and_slow_connections_leave_room_for_a_search(
    server: tuple[str, int]
) -> None:
    # Waitress's default of 100 connections let ~98 idle sockets lock everyone out.
    held = []
    try:
        for i in range(200):
            sock = socket.create_connection(server, timeout=10)
            if i % 2:  # half of them a request head that never ends
                sock.sendall(b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        started = time.perf_counter()
        connection = http.client.HTTPConnection(*server, timeout=10)
        try:
            connection.request("GET", "/api/search?q=iraq&k=3")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
        assert time.perf_counter() - started < 5
    finally:
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_a_port_in_use_is_one_error_line(sample_index: Config, exported_env: dict[str, str]
                                         ) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "service", "--index-dir", str(sample_index.index_dir),
             "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent, env=exported_env, capture_output=True,
            text=True, timeout=300, stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in result.stderr
