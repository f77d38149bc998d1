"""How one connection is received and answered: a deadline for each request, our error
shape and security headers on waitress's own error responses, and ``Connection: close`` after a
request framed twice or while the server drains."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, split_uri
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask

from service import MAX_BODY_BYTES
from service.errors import error_document, wants_json
from service.headers import SECURITY_HEADERS

# Seconds a request, head and body, may take to arrive from its first byte. Waitress has no
# such limit: a client sending a header line every few seconds held a connection for ever.
REQUEST_DEADLINE = 10.0
# Seconds a connection accepted just before a drain has to send its request.
DRAIN_GRACE = 1.0

# How much of a request's first bytes is kept to find its path for an error response.
_HEAD_START_BYTES = 4096


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    """A request being received, remembering how it began and how its body is framed."""

    # Waitress replaces a 431's request line with "GET / HTTP/1.0": the error response needs
    # the path the client asked for to choose JSON or text.
    head_start = b""
    both_lengths = False

    def received(self, data: bytes) -> int:
        if self.body_rcv is None and len(self.head_start) < _HEAD_START_BYTES:
            self.head_start += data[: _HEAD_START_BYTES - len(self.head_start)]
        consumed: int = super().received(data)
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # Content-Length and Transfer-Encoding both: waitress reads the body by the coding
        # (HTTP/1.1; by the length in 1.0, where it ignores the coding), and something in
        # front of us may have read it the other way, so the rest of the connection cannot be
        # trusted: RFC 9112 6.1 says close it after the response.
        self.both_lengths = "CONTENT_LENGTH" in self.headers and (
            self.chunked or "TRANSFER_ENCODING" in self.headers
        )


def _request_path(request: Any) -> str:
    """The path the app would see for `request`, from its first bytes ('' if unknown)."""
    line = getattr(request, "head_start", b"").lstrip().split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) < 2:
        return ""
    try:
        path: str = split_uri(parts[1])[2]
    except (ParsingError, ValueError):
        return ""
    # As waitress builds PATH_INFO: "//api/x" is "/api/x" to the app.
    return "/" + path.lstrip("/") if path.startswith("/") else path


class _ErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's own error responses (400, 413, 431, 501, 500): our JSON error shape under the
    JSON paths, plain text elsewhere, and our security headers on both."""

    def execute(self) -> None:
        error = self.request.error
        path = _request_path(self.request)
        if not path and self.channel.requests:  # a 500 made up after the app itself failed
            path = _request_path(self.channel.requests[0])
        body: bytes
        if wants_json(path):
            message = _error_message(error.code, str(error.body), self.channel.adj)
            body = json.dumps(error_document(error.code, message)).encode()
            headers = [("Content-Type", "application/json")]
        else:
            _, headers, body = error.to_response(self.channel.adj.ident)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(headers)
        self.response_headers.extend(SECURITY_HEADERS.items())
        # What follows an unreadable request on the connection cannot be read either.
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


def _error_message(status: int, detail: str, adj: Adjustments) -> str:
    if status == 413:
        return f"the request body is larger than {MAX_BODY_BYTES} bytes"
    if status == 431:
        return f"the request head is larger than {adj.max_request_header_size} bytes"
    # Waitress's reason, which may quote a header line: cut to a readable length.
    return detail if len(detail) <= 200 else detail[:200] + "..."


class _Task(WSGITask):  # type: ignore[misc]
    """A request to the app, answered with ``Connection: close`` when the connection must not
    carry another: its body was framed twice, or the server is draining."""

    def build_response_header(self) -> bytes:
        if self.request.both_lengths or self.channel.server.draining:
            # As if the client had asked: waitress then closes, with one Connection header
            # (closing first would add "Keep-Alive" beside it for an HTTP/1.0 keep-alive).
            # The app has already seen the request's headers.
            self.request.headers["CONNECTION"] = "close"
        header: bytes = super().build_response_header()
        return header


class Channel(HTTPChannel):  # type: ignore[misc]
    """A connection, timing the request it is receiving."""

    task_class = _Task
    error_task_class = _ErrorTask
    parser_class = _Parser

    def __init__(self, server: Listener, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: dict[int, Any] | None = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.opened = time.monotonic()
        self.received_any = False
        self.request_began: float | None = None  # when the request now arriving began

    def received(self, data: bytes) -> bool:
        before = self.request
        result: bool = super().received(data)
        self.received_any = True
        if self.request is None:
            self.request_began = None
        elif self.request is not before:
            self.request_began = time.monotonic()
        return result

    def service(self) -> None:
        super().service()
        # A request that came in behind the one just answered could not be read meanwhile
        # (the connection is not read while one is being answered): its time starts now.
        if self.request is not None:
            self.request_began = time.monotonic()

    def overdue(self, now: float) -> bool:
        """Still receiving a request that began more than REQUEST_DEADLINE ago."""
        began = self.request_began
        return (began is not None and self.request is not None and not self.requests
                and now - began > REQUEST_DEADLINE)

    def in_flight(self, now: float) -> bool:
        """Whether a drain waits for this connection (else it is closed at once)."""
        if self.will_close or (self.close_when_flushed and not self.total_outbufs_len):
            return False
        if self.requests or self.total_outbufs_len:  # being answered, or the answer is sent
            return True
        if self.request is not None and self.request.head_start.strip():  # arriving
            return True
        # Accepted a moment ago and nothing yet: its client is surely sending a request.
        return not self.received_any and now - self.opened < DRAIN_GRACE


class Listener(TcpWSGIServer):  # type: ignore[misc]
    """A listening socket, closing connections whose request takes too long to arrive."""

    channel_class = Channel
    draining = False

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # connections idle for longer than channel_timeout
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            if channel.overdue(clock):
                channel.will_close = True  # closed by the loop, without an answer
