"""The production server (service/server.py) over real sockets, against ``python -m service``.

Slow and idle connections leave room for everyone else, a huge body is refused before it is
read, waitress's own error responses have our shape and headers, a request with both
Content-Length and Transfer-Encoding closes its connection, SIGTERM/SIGHUP/SIGINT drain the
requests in flight, and an address that cannot be bound is one line of error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from index import Config, Embedder
from service.headers import SECURITY_HEADERS
from tests.processes import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
QUERY = b"GET /api/search?q=Iraq&k=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
MIB = 1024 * 1024


@dataclass
class Service:
    """A running ``python -m service`` and what it has written on stderr so far."""

    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)

    def wait_for_log(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if re.search(pattern, line):
                    return line
            time.sleep(0.02)
        pytest.fail(f"no log line matching {pattern!r} in {timeout} s:\n" + "".join(self.log))


def as_started_by_hand() -> None:
    """In the child: SIGHUP and SIGINT as a shell in a terminal leaves them. A test run under
    nohup, or in the background of a script, ignores them, and the service keeps an ignored
    signal ignored, as it should: the drain tests would then test nothing."""
    die_with_parent()
    for signum in (signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


@contextlib.contextmanager
def running_service(index_dir: Path, env: dict[str, str]) -> Iterator[Service]:
    """``python -m service`` on a free port, answering /healthz; killed afterwards."""
    port = free_ports(1)[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--index-dir", str(index_dir), "--port", str(port)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=as_started_by_hand,
    )
    service = Service(process, port)
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: service.log.extend(iter(process.stderr.readline, "")),
                              name="service-stderr", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "the service exited:\n" + "".join(service.log)
            assert time.monotonic() < deadline, "the service never answered /healthz"
            with contextlib.suppress(OSError):
                replies, _ = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n", timeout=2)
                if replies and replies[0].status == 200:
                    break
            time.sleep(0.2)
        yield service
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)
        process.stderr.close()


@pytest.fixture(scope="module")
def service(sample_index: Config, model_cache: Path, embedder: Embedder) -> Iterator[Service]:
    """One service shared by the tests that leave it as they found it. The environment is
    ``exported_env``'s, which is per test and so cannot serve a module's fixture."""
    env = {**os.environ, "SEARCH_CACHE_DIR": str(model_cache), "HF_HUB_OFFLINE": "1"}
    with running_service(sample_index.index_dir, env) as running:
        yield running


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def parse_replies(raw: bytes) -> list[Reply]:
    """The responses in `raw`, one after the other (each has a Content-Length)."""
    replies = []
    while raw:
        head, separator, rest = raw.partition(b"\r\n\r\n")
        assert separator, f"an incomplete response head: {raw[:200]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice"
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        assert len(rest) >= length, "a body cut short"
        replies.append(Reply(int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return replies


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection (True), or until `timeout`."""
    data = b""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:  # closed with some of our request unread: still closed
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def read_reply(sock: socket.socket) -> Reply:
    """One response, read from a connection that stays open."""
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            assert length, head
            if len(body) >= int(length.group(1)):
                break
        chunk = sock.recv(65536)
        assert chunk, "closed before the end of the response"
        data += chunk
    [reply] = parse_replies(data)
    return reply


def exchange(port: int, request: bytes, timeout: float = 10) -> tuple[list[Reply], bool]:
    """Send `request` as is on a new connection; the replies, and whether the server closed
    the connection after them (within `timeout`)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        # The server may answer and close before it has read everything (that is the point
        # of some tests): what it answered is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        raw, closed = read_until_closed(sock, timeout)
    return parse_replies(raw), closed


def assert_security_headers(reply: Reply) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers.get(name.lower()) == value, name


def timed_query(port: int, timeout: float) -> float:
    """Seconds for a normal search on a new connection, which must be a complete 200."""
    started = time.monotonic()
    replies, _ = exchange(port, QUERY + b"Connection: close\r\n\r\n", timeout=timeout)
    elapsed = time.monotonic() - started
    assert [r.status for r in replies] == [200], replies
    assert json.loads(replies[0].body)["results"]
    return elapsed


def thread_count(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


# 1. Slow and idle connections ------------------------------------------------------------


@pytest.mark.slow
def test_slow_and_idle_connections_leave_room_and_are_closed(service: Service) -> None:
    threads = thread_count(service.process.pid)
    idle = [socket.create_connection((HOST, service.port), timeout=5) for _ in range(100)]
    opened = {sock: time.monotonic() for sock in idle}
    trickling = []
    for _ in range(100):
        sock = socket.create_connection((HOST, service.port), timeout=5)
        sock.sendall(b"GET /api/search?q=slow HTTP/1.1\r\n")  # the request starts here
        opened[sock] = time.monotonic()
        trickling.append(sock)
    try:
        time.sleep(1)  # for the server to accept them all
        # Waitress hands only complete requests to its threads: 200 slow clients, no thread.
        # (Counted before any search: searching may start threads of its own.)
        assert thread_count(service.process.pid) == threads
        latencies = [timed_query(service.port, timeout=2) for _ in range(5)]
        print(f"normal query with 200 slow connections held: {max(latencies) * 1000:.0f} ms max")
        assert max(latencies) < 2

        closed_at = watch_until_closed(idle, trickling, timeout=15)
        lifetimes = sorted(closed_at[s] - opened[s] for s in trickling)
        print(f"trickling connections closed after {lifetimes[0]:.1f}-{lifetimes[-1]:.1f} s")
        # The whole request must arrive within 10 s of its first byte, checked every second;
        # the idle ones have no request, and 30 s before they are closed as idle.
        assert 9.5 <= lifetimes[0] and lifetimes[-1] <= 13
        assert not closed_at.keys() & set(idle)
        timed_query(service.port, timeout=2)

        # A keep-alive connection idle after its answer, beside those that never sent a byte.
        kept = socket.create_connection((HOST, service.port), timeout=5)
        kept.sendall(QUERY + b"\r\n")
        assert read_reply(kept).status == 200
        opened[kept] = time.monotonic()
        idle.append(kept)
        closed_at = watch_until_closed(idle, [], timeout=40, until=idle)
        lifetimes = sorted(closed_at[s] - opened[s] for s in idle)
        print(f"idle connections closed after {lifetimes[0]:.1f}-{lifetimes[-1]:.1f} s")
        # Idle for 30 s, checked every second.
        assert 29.5 <= lifetimes[0] and lifetimes[-1] <= 33
    finally:
        for sock in idle + trickling:
            sock.close()


def watch_until_closed(idle: list[socket.socket], trickling: list[socket.socket],
                       timeout: float, until: list[socket.socket] | None = None
                       ) -> dict[socket.socket, float]:
    """When the server closes each connection of `until` (the trickling ones by default),
    while the trickling ones send one header line a second. The server must send nothing on
    any: it closes, it does not answer."""
    until = trickling if until is None else until
    closed_at: dict[socket.socket, float] = {}
    by_fd = {sock.fileno(): sock for sock in idle + trickling}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)

    def closed(sock: socket.socket) -> None:
        closed_at[sock] = time.monotonic()
        with contextlib.suppress(KeyError):
            poller.unregister(sock.fileno())

    deadline = time.monotonic() + timeout
    next_line = time.monotonic()
    while not set(until) <= closed_at.keys() and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            sock = by_fd[fd]
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
            assert data == b"", f"the server answered a slow request: {data[:100]!r}"
            closed(sock)
        if time.monotonic() >= next_line:
            next_line += 1
            for sock in trickling:
                if sock not in closed_at:
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                    except OSError:
                        closed(sock)
    assert set(until) <= closed_at.keys(), f"{len(set(until) - closed_at.keys())} open"
    return closed_at


# 2. Request bodies -----------------------------------------------------------------------


def temp_bytes(pid: int, folder: Path) -> int:
    """Bytes in the files under `folder` that process `pid` holds open (waitress's spooled
    bodies are unlinked temporary files: only the process's descriptors still show them)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(str(folder)):
                total += fd.stat().st_size
    return total


@pytest.mark.slow
def test_a_huge_body_is_refused_before_it_is_read(
    sample_index: Config, exported_env: dict[str, str], tmp_path: Path
) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    with running_service(sample_index.index_dir, {**exported_env, "TMPDIR": str(spool)}) as svc:
        for framing in (b"Content-Length: %d\r\n" % (300 * MIB), b"Transfer-Encoding: chunked\r\n"):
            with socket.create_connection((HOST, svc.port), timeout=10) as sock:
                started = time.monotonic()
                sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n" + framing + b"\r\n")
                # Up to 8 MiB of body while the server is reading, if it reads; it must
                # answer meanwhile, and spool none of it.
                chunk = b"x" * (256 * 1024)
                if b"chunked" in framing:
                    chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                spooled = sent = 0
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.setblocking(False)
                    while sent < 8 * MIB and not select.select([sock], [], [], 0)[0]:
                        if select.select([], [sock], [], 0.05)[1]:
                            sent += sock.send(chunk)
                            spooled = max(spooled, temp_bytes(svc.process.pid, spool))
                    sock.setblocking(True)
                raw, closed = read_until_closed(sock, timeout=5)
                elapsed = time.monotonic() - started
            print(f"{framing!r}: 413 after {elapsed * 1000:.0f} ms, {sent} bytes of body sent")
            replies = parse_replies(raw)
            assert [r.status for r in replies] == [413], raw[:300]
            assert elapsed < 2 and closed
            assert json.loads(replies[0].body)["error"]["code"] == "payload_too_large"
            assert spooled < 64 * 1024, f"{spooled} bytes spooled under TMPDIR"
        # (The model's runtime leaves a small session file there.)
        assert sum(f.stat().st_size for f in spool.rglob("*") if f.is_file()) < 64 * 1024
        timed_query(svc.port, timeout=5)


# 3. Waitress's own error responses -------------------------------------------------------

ERRORS = {
    # status: (JSON code, the text's first line, the request's headers)
    431: ("request_header_fields_too_large", "Request Header Fields Too Large",
          b"X-Big: " + b"a" * (100 * 1024) + b"\r\n"),
    400: ("bad_request", "Bad Request", b"Content-Length: abc\r\n"),
    501: ("not_implemented", "Not Implemented", b"Transfer-Encoding: gzip\r\n"),
    413: ("payload_too_large", "Request Entity Too Large",
          b"Content-Type: application/json\r\nContent-Length: %d\r\n" % (300 * MIB)),
}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/api/search", "/"])
@pytest.mark.parametrize("status", ERRORS)
def test_server_errors_have_our_shape_and_headers(service: Service, status: int,
                                                  path: str) -> None:
    code, reason, headers = ERRORS[status]
    method = b"GET" if status == 431 else b"POST"
    request = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    replies, closed = exchange(service.port, request, timeout=5)
    assert [r.status for r in replies] == [status], replies
    reply = replies[0]
    assert_security_headers(reply)
    assert reply.headers["connection"] == "close" and closed
    if path.startswith("/api/"):
        assert reply.headers["content-type"] == "application/json"
        error = json.loads(reply.body)["error"]
        assert set(error) == {"code", "message"}
        assert error["code"] == code and error["message"]
    else:
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        assert reply.body.decode().startswith(reason)
    timed_query(service.port, timeout=5)


# 4. Content-Length and Transfer-Encoding together ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_content_length_with_transfer_encoding_closes_the_connection(
    service: Service, version: str
) -> None:
    payload = b'{"q": "Iraq", "k": 1}'
    if version == "1.1":  # read as chunked, as RFC 9112 says; a front end might use the length
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
        length = 4
    else:  # HTTP/1.0 has no chunked coding: read by length, kept alive on request
        body, length = payload, len(payload)
    request = (
        b"POST /api/search HTTP/" + version.encode() + b"\r\nHost: x\r\nConnection: keep-alive\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" % length + body
        + b"GET /api/search?q=smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    replies, closed = exchange(service.port, request, timeout=5)
    assert [r.status for r in replies] == [200], replies
    assert replies[0].headers["connection"] == "close"
    assert closed, "the connection stayed open"


# 5. Drain on SIGTERM, SIGHUP, SIGINT -----------------------------------------------------


@dataclass
class Outcome:
    kind: str  # "ok", "refused" or "error"
    started: float
    ended: float
    detail: str = ""


def hammer(port: int, outcomes: list[Outcome], stop: threading.Event) -> None:
    """Searches one after the other, each on a new connection, until refused."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            sock = socket.create_connection((HOST, port), timeout=10)
        except ConnectionRefusedError:
            outcomes.append(Outcome("refused", started, time.monotonic()))
            return
        try:
            with sock:
                sock.sendall(QUERY + b"Connection: close\r\n\r\n")
                raw, closed = read_until_closed(sock, timeout=15)
            replies = parse_replies(raw)
            assert closed and [r.status for r in replies] == [200], raw[:200]
            assert json.loads(replies[0].body)["results"]
            outcomes.append(Outcome("ok", started, time.monotonic()))
        except (OSError, AssertionError, ValueError) as e:
            outcomes.append(Outcome("error", started, time.monotonic(), repr(e)))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_signal_drains_the_requests_in_flight(
    sample_index: Config, exported_env: dict[str, str], signum: int
) -> None:
    with running_service(sample_index.index_dir, exported_env) as svc:
        # A keep-alive connection, idle after one answer: closed by the drain.
        keep_alive = socket.create_connection((HOST, svc.port), timeout=10)
        keep_alive.sendall(QUERY + b"\r\n")
        assert read_reply(keep_alive).status == 200
        # An upload under way: its request has begun, so it is in flight and is answered.
        payload = b'{"q": "Iraq", "k": 2}'
        upload = socket.create_connection((HOST, svc.port), timeout=10)
        upload.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                       b"\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload[:5])
        outcomes: list[Outcome] = []
        stop = threading.Event()
        clients = [threading.Thread(target=hammer, args=(svc.port, outcomes, stop))
                   for _ in range(4)]
        for client in clients:
            client.start()
        try:
            time.sleep(1.5)
            signalled = time.monotonic()
            svc.process.send_signal(signum)
            name = signal.Signals(signum).name
            svc.wait_for_log(rf"service\.server: draining on {name}", timeout=2)
            draining = time.monotonic()
            # Refused at once, or a second later if the SYN came while the handshakes under
            # way were let complete.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((HOST, svc.port), timeout=3).close()
            assert read_until_closed(keep_alive, timeout=2) == (b"", True)
            time.sleep(0.5)  # the upload's request holds the drain open meanwhile
            assert svc.process.poll() is None
            upload.sendall(payload[5:])
            raw, closed = read_until_closed(upload, timeout=5)
            replies = parse_replies(raw)
            assert [r.status for r in replies] == [200] and closed
            assert replies[0].headers["connection"] == "close"
            answered = time.monotonic()
            assert svc.process.wait(timeout=10) == 0
            exited = time.monotonic()
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=30)
            keep_alive.close()
            upload.close()
        print(f"{name}: draining logged after {(draining - signalled) * 1000:.0f} ms, exit "
              f"{(exited - answered) * 1000:.0f} ms after the last answer; "
              f"{sum(o.kind == 'ok' for o in outcomes)} searches answered, "
              f"{sum(o.kind == 'ok' and o.ended > signalled for o in outcomes)} after the signal")
        errors = [o for o in outcomes if o.kind == "error"]
        assert errors == [], errors
        assert sum(o.kind == "ok" for o in outcomes) >= 8
        # Refused only once the drain began. (Not "started after the signal": on a loaded
        # machine a client thread can be held between reading the clock and sending its SYN
        # for longer than the service takes to stop taking new handshakes.)
        assert all(o.ended > signalled for o in outcomes if o.kind == "refused")
        assert sum(o.kind == "refused" for o in outcomes) == len(clients)
        svc.wait_for_log(r"service\.server: drained in [\d.]+ s", timeout=2)
        assert "Traceback" not in "".join(svc.log)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, svc.port), timeout=2).close()


@pytest.mark.slow
def test_a_drain_cuts_off_a_reader_that_does_not_read_after_its_time_limit(
    sample_index: Config, exported_env: dict[str, str]
) -> None:
    with running_service(sample_index.index_dir, exported_env) as svc:
        # A client that pipelines searches and never reads their answers (~57 KB each): once
        # they fill its small receive buffer and the kernel's send buffer, the server holds
        # the rest, and the request is in flight for as long as the client does not read.
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((HOST, svc.port))
        # 64 bytes each, so that the server's reads of 8 KiB end between requests: a request
        # left half read would be closed by its own 10 s deadline, not by the drain's.
        request = b"GET /api/search?q=Iraq&k=100 HTTP/1.1\r\nHost: x\r\nX-Pad: 12345\r\n\r\n"
        assert 8192 % len(request) == 0
        reader.sendall(request * 400)
        wait_until_send_buffer_full(svc.port, reader.getsockname()[1])
        signalled = time.monotonic()
        svc.process.send_signal(signal.SIGTERM)
        svc.wait_for_log(r"draining on SIGTERM: .* finishing 1 in flight", timeout=2)
        # An ordinary client is refused meanwhile, and the service exits after the limit.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, svc.port), timeout=3).close()
        assert svc.process.wait(timeout=20) == 0
        took = time.monotonic() - signalled
        print(f"exited {took:.1f} s after SIGTERM")
        assert 10 <= took < 12
        svc.wait_for_log(r"drained in 10\.\d\d s: 1 connections cut off with a request in "
                         r"flight", timeout=2)
        raw, closed = read_until_closed(reader, timeout=5)
        reader.close()
        # What was sent before the cut is readable; the rest of the 400 answers is not.
        assert closed and raw.count(b"HTTP/1.1 200 OK") < 400
        assert "Traceback" not in "".join(svc.log)


def wait_until_send_buffer_full(port: int, client_port: int) -> None:
    """Wait until the kernel's send queue of the server's end of the connection from
    `client_port` has stopped growing (read from /proc/net/tcp) for half a second."""
    local, remote = f"0100007F:{port:04X}", f"0100007F:{client_port:04X}"
    queued, since = -1, time.monotonic()
    deadline = since + 60
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        now = next(int(row[4].split(":")[0], 16) for row in rows
                   if row[1] == local and row[2] == remote)
        if now != queued:
            queued, since = now, time.monotonic()
        elif queued > 0 and time.monotonic() - since > 0.5:
            return
        time.sleep(0.05)
    pytest.fail("the server's send queue never filled")


# 6. An address that cannot be bound ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("host, reason", [
    (HOST, "Address already in use"),
    ("192.0.2.1", "Cannot assign requested address"),  # TEST-NET-1: never a local address
])
def test_an_address_that_cannot_be_bound_is_one_line_of_error(
    sample_index: Config, exported_env: dict[str, str], host: str, reason: str
) -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "service", "--index-dir", str(sample_index.index_dir),
             "--host", host, "--port", str(port)],
            cwd=ROOT, env=exported_env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=120,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "Error" in line or "ERROR" in line]
    assert errors == [f"Error: cannot listen on {host}:{port}: {reason}"], result.stderr
    assert "Serving on" not in result.stderr
