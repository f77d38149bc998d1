"""The HTTP server of ``python -m service``: waitress with deliberate limits, our error shape and
headers on its own error responses, and a bounded drain on SIGTERM, SIGHUP and SIGINT."""

from __future__ import annotations

import ctypes
import json
import logging
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, split_uri
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from service import MAX_BODY_BYTES
from service.errors import error_document, wants_json
from service.headers import SECURITY_HEADERS

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)

# Connections held at once. Waitress's default of 100 is filled by ~98 idle or slow clients,
# after which nobody else is served; a connection waiting for its request costs a socket
# and its buffered head, never a thread (waitress queues only complete requests).
CONNECTION_LIMIT = 1000
# Descriptors kept for everything but connections: index and model files, logs, a response
# spooled to a temporary file now and then.
FD_RESERVE = 128
# Seconds a connection may sit with nothing to do (no request, nothing left to send): long
# enough for a browser's or a proxy's next request on it, short enough to give idle sockets
# back; the drain closes idle ones at once anyway.
IDLE_TIMEOUT = 30
# Seconds a request, head and body, may take to arrive from its first byte. Waitress has no
# such limit: a client sending a header line every few seconds held a connection for ever.
REQUEST_DEADLINE = 10.0
# The request head; 64 KiB is far beyond any real one (our longest URLs are a few KiB) and
# bounds what a thousand slow connections can make us buffer.
MAX_HEADER_BYTES = 64 * 1024
# Seconds the drain waits for requests in flight, and for a connection accepted just before
# it to send its request.
DRAIN_TIMEOUT = 10.0
DRAIN_GRACE = 1.0
# Seconds the listening socket keeps accepting, once new handshakes are dropped, for those
# already under way to complete: their clients are connected as far as they know.
HANDSHAKE_SETTLE = 0.2
DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

# How much of a request's first bytes is kept to find its path for an error response.
_HEAD_START_BYTES = 4096


class ListenError(Exception):
    """The address cannot be listened on: ``cannot listen on HOST:PORT: reason``."""


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


class _Channel(HTTPChannel):  # type: ignore[misc]
    """A connection, timing the request it is receiving."""

    task_class = _Task
    error_task_class = _ErrorTask
    parser_class = _Parser

    def __init__(self, server: _Listener, sock: socket.socket, addr: Any, adj: Adjustments,
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


class _Listener(TcpWSGIServer):  # type: ignore[misc]
    """A listening socket, closing connections whose request takes too long to arrive."""

    channel_class = _Channel
    draining = False

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # connections idle for longer than channel_timeout
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            if channel.overdue(clock):
                channel.will_close = True  # closed by the loop, without an answer


class _Wakeup(wasyncore.dispatcher):  # type: ignore[misc]
    """Wakes the server's loop from a signal handler or another thread. Not waitress's
    trigger: that one writes to a blocking pipe, which a handler must not risk."""

    def __init__(self, map: dict[int, Any]) -> None:
        reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        super().__init__(reader, map=map)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        self.recv(4096)

    def handle_close(self) -> None:
        self.close()

    def wake(self) -> None:
        try:
            self._writer.send(b"x")
        except OSError:  # full, so the loop wakes anyway; or closed, so it has ended
            pass

    def close(self) -> None:
        super().close()
        self._writer.close()


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


_SO_ATTACH_FILTER = 26  # Linux; not in the socket module
# Classic BPF for a listening TCP socket, whose packets start at the TCP header: drop those
# whose flags have SYN without ACK (a new connection), keep the rest.
_DROP_SYN = [
    (0x30, 0, 0, 13),  # load the flags byte
    (0x54, 0, 0, 0x12),  # keep SYN and ACK
    (0x15, 0, 1, 0x02),  # SYN alone: next instruction, else skip it
    (0x06, 0, 0, 0),  # drop
    (0x06, 0, 0, 0xFFFFFFFF),  # keep
]


def _drop_new_handshakes(sock: socket.socket) -> bool:
    """Stop `sock` from starting connections while those under way complete (False where this
    cannot be done). Closing a listening socket resets the connections the kernel has
    completed but we have not accepted, whose clients believe they are connected and may
    have sent a request: a new client's SYN dropped instead is sent again a second later,
    finds the socket closed and is refused, as it should be."""
    if not sys.platform.startswith("linux"):
        return False
    program = (_SockFilter * len(_DROP_SYN))(*(_SockFilter(*op) for op in _DROP_SYN))
    fprog = _SockFprog(len(_DROP_SYN), ctypes.cast(program, ctypes.POINTER(_SockFilter)))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, bytes(fprog))
    except OSError:
        return False
    return True


def _bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of `host` (as waitress would: both of localhost's),
    bound here so that a failure says why; waitress turns a bad name into 'Invalid host'."""
    where = f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                       socket.IPPROTO_TCP, socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ListenError(f"cannot listen on {where}: {e.strerror}") from e
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):  # once each
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # the IPv4 address has its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as e:
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {where}: {e.strerror or e}") from e
    return sockets


def _connection_limit() -> int:
    """CONNECTION_LIMIT, or fewer if the process may not open that many files (each connection
    is one, two while a large response spools to a temporary file)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTION_LIMIT + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return CONNECTION_LIMIT
    limit = max(soft - FD_RESERVE, 8)
    logger.warning("only %d open files allowed: at most %d connections at once", soft, limit)
    return limit


def create_server(app: WSGIApplication, host: str, port: int, threads: int) -> _Listener:
    """A waitress server for `app` on every address of `host`, listening already (port 0: any
    free port). ``.run()`` serves until its map is closed, as tests do; `serve` also drains.

    Raises:
        ListenError: the address cannot be listened on.
    """
    sockets = _bind(host, port)
    adj = Adjustments(
        sockets=sockets,
        threads=threads,
        ident="search",
        connection_limit=_connection_limit(),
        # poll(), not select(): select() fails once a descriptor is above 1024.
        asyncore_use_poll=True,
        channel_timeout=IDLE_TIMEOUT,
        # Idle and slow connections checked every second (REQUEST_DEADLINE is enforced
        # there), not every 30 s.
        cleanup_interval=1,
        max_request_header_size=MAX_HEADER_BYTES,
        # Refused as soon as the head announces more: waitress would otherwise read the body
        # to the end, spooling it to a temporary file past 512 KiB, before the app's 413. Its
        # 413 now has the app's shape, so the limit can be the app's. Waitress refuses from
        # this size up, the app only above MAX_BODY_BYTES: hence the + 1. (A chunked body is
        # counted with its chunk framing, so one just under the limit may be refused.)
        max_request_body_size=MAX_BODY_BYTES + 1,
    )
    # One loop and one set of threads for all the addresses, as waitress.create_server does.
    socket_map: dict[int, Any] = {}
    dispatcher = ThreadedTaskDispatcher()
    try:
        listeners = [
            _Listener(app, socket_map, _sock=sock, dispatcher=dispatcher, adj=adj,
                      bind_socket=False,
                      sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
            for sock in sockets
        ]
    except OSError as e:  # listen() failing after bind(): as rare as it is possible
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    dispatcher.set_thread_count(threads)
    return listeners[0]


class Server:
    """A server from `create_server` that serves until `drain` is called, then finishes the
    requests in flight (at most DRAIN_TIMEOUT) and closes.

    Raises:
        ListenError: the address cannot be listened on.
    """

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int) -> None:
        first = create_server(app, host, port, threads)
        self.adj: Adjustments = first.adj
        self._map: dict[int, Any] = first._map
        self._listeners = [d for d in self._map.values() if isinstance(d, _Listener)]
        self._dispatcher: ThreadedTaskDispatcher = first.task_dispatcher
        self._wakeup = _Wakeup(self._map)
        self._drain_reason: str | None = None
        self.port: int = first.socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"

    def drain(self, reason: str) -> None:
        """Have `run` drain and return; from any thread, or from a signal handler."""
        if self._drain_reason is None:
            self._drain_reason = reason
        self._wakeup.wake()

    def run(self) -> None:
        """Serve until `drain` is called, then finish the requests in flight and close."""
        try:
            while self._drain_reason is None:
                wasyncore.poll2(self.adj.asyncore_loop_timeout, self._map)
            self._drain(self._drain_reason)
        finally:
            self._close()

    def _channels(self) -> list[_Channel]:
        return [d for d in list(self._map.values()) if isinstance(d, _Channel)]

    def _drain(self, reason: str) -> None:
        started = time.monotonic()
        logger.info("draining on %s: no longer accepting connections, finishing %d in flight "
                    "(at most %g s)", reason,
                    sum(c.in_flight(started) for c in self._channels()), DRAIN_TIMEOUT)
        for listener in self._listeners:
            listener.draining = True  # every answer from now on says Connection: close
        if all([_drop_new_handshakes(listener.socket) for listener in self._listeners]):
            while time.monotonic() < started + HANDSHAKE_SETTLE:
                wasyncore.poll2(0.01, self._map)  # serving as usual, accepting what completes
        for listener in self._listeners:
            self._accept_waiting(listener)
            # The listening socket only: its trigger stays, the threads wake the loop with it.
            wasyncore.dispatcher.close(listener)
        deadline = started + DRAIN_TIMEOUT
        while True:
            now = time.monotonic()
            for listener in self._listeners:
                listener.maintenance(time.time())  # slow requests get no longer than usual
            waiting = 0
            for channel in self._channels():
                if channel.in_flight(now):
                    waiting += 1
                else:
                    channel.will_close = True  # idle keep-alive: closed now
            if not waiting:
                logger.info("drained in %.2f s", now - started)
                return
            if now >= deadline:
                logger.warning("drained in %.2f s: %d connections cut off with a request in "
                               "flight", now - started, waiting)
                return
            wasyncore.poll2(0.1, self._map)

    def _accept_waiting(self, listener: _Listener) -> None:
        """Accept the connections the kernel has completed and queued: closing the socket
        would reset them, though their clients have connected and likely sent a request."""
        while len(self._map) < self.adj.connection_limit:
            try:
                accepted = listener.accept()
                if accepted is None:  # none left
                    return
                sock, address = accepted
                listener.set_socket_options(sock)
            except OSError:  # out of descriptors, or the client has already gone
                return
            listener.channel_class(listener, sock, listener.fix_addr(address), self.adj,
                                   map=self._map)

    def _close(self) -> None:
        for channel in self._channels():
            channel.handle_close()  # also the buffers; a thread still writing stops
        # Threads first, then the triggers they pull: a closed descriptor could be reused.
        self._dispatcher.shutdown(timeout=1)
        for listener in self._listeners:
            listener.close()
        self._wakeup.close()
        self._map.clear()


def serve(app: WSGIApplication, host: str, port: int, threads: int,
          on_listening: Callable[[str], None] | None = None) -> None:
    """Serve `app` on HOST:PORT until SIGTERM, SIGHUP or SIGINT, then drain and return.

    Raises:
        ListenError: the address cannot be listened on.
    """
    server = Server(app, host, port, threads)
    if on_listening is not None:
        on_listening(server.url)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.drain(signal.Signals(signum).name)

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals are only seen there
        for signum in DRAIN_SIGNALS:
            # An ignored signal stays ignored: SIGHUP under nohup must not stop the service.
            if signal.getsignal(signum) != signal.SIG_IGN:
                previous[signum] = signal.signal(signum, on_signal)
    try:
        server.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
