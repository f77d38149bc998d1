"""The HTTP server of ``python -m service``: waitress listening with deliberate limits, and a
bounded drain on SIGTERM, SIGHUP and SIGINT (each connection's handling is in connections.py)."""

from __future__ import annotations

import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from service import MAX_BODY_BYTES
from service.connections import Channel, Listener
from service.handshakes import drop_new_handshakes

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
# The request head; 64 KiB is far beyond any real one (our longest URLs are a few KiB) and
# bounds what a thousand slow connections can make us buffer.
MAX_HEADER_BYTES = 64 * 1024
# Seconds the drain waits for requests in flight.
DRAIN_TIMEOUT = 10.0
# Seconds the listening socket keeps accepting, once new handshakes are dropped, for those
# already under way to complete: their clients are connected as far as they know.
HANDSHAKE_SETTLE = 0.2
DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class ListenError(Exception):
    """The address cannot be listened on: ``cannot listen on HOST:PORT: reason``."""


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


def create_server(app: WSGIApplication, host: str, port: int, threads: int) -> Listener:
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
            Listener(app, socket_map, _sock=sock, dispatcher=dispatcher, adj=adj,
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

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int,
                 on_drain: Callable[[], None] | None = None) -> None:
        first = create_server(app, host, port, threads)
        self._on_drain = on_drain
        self.adj: Adjustments = first.adj
        self._map: dict[int, Any] = first._map
        self._listeners = [d for d in self._map.values() if isinstance(d, Listener)]
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

    def _channels(self) -> list[Channel]:
        return [d for d in list(self._map.values()) if isinstance(d, Channel)]

    def _drain(self, reason: str) -> None:
        started = time.monotonic()
        if self._on_drain is not None:
            self._on_drain()
        logger.info("draining on %s: no longer accepting connections, finishing %d in flight "
                    "(at most %g s)", reason,
                    sum(c.in_flight(started) for c in self._channels()), DRAIN_TIMEOUT)
        for listener in self._listeners:
            listener.draining = True  # every answer from now on says Connection: close
        if all([drop_new_handshakes(listener.socket) for listener in self._listeners]):
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

    def _accept_waiting(self, listener: Listener) -> None:
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
          on_listening: Callable[[str], None] | None = None,
          on_drain: Callable[[], None] | None = None) -> None:
    """Serve `app` on HOST:PORT until SIGTERM, SIGHUP or SIGINT, then drain and return;
    `on_drain` is called (in this thread) as the drain starts.

    Raises:
        ListenError: the address cannot be listened on.
    """
    server = Server(app, host, port, threads, on_drain)
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
