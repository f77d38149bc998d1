"""A real Milvus server for tests: Milvus 2.3 standalone, from the `milvus` PyPI package.

    with milvus_server(tmp_path / "milvus") as uri:         # "http://127.0.0.1:PORT"
        client = pymilvus.MilvusClient(uri=uri)              # any number of processes

The `milvus` package (2.3.5, the newest on PyPI) ships the Milvus server binary, its
libraries and a config template; its own launcher (`milvus-server`) is not used, because:

* it gives every port but the proxy's a fixed default (etcd's peer port 2380, the metrics
  port 9091, ...), so a second server on the machine crashes at start, and the launcher
  does not notice: it waits forever beside a dead (zombie) binary;
* SIGTERM kills the launcher at once and leaves the binary running;
* it unpacks the 57 MB of .lzma files into every data dir (246 MB, ~4 s of CPU).

So this module renders the config with the package's `MilvusServerConfig`, with a free
port for everything, unpacks the binary once per machine into a cache folder, and runs
`milvus run standalone` itself, in a session of its own, as a direct child that gets a
SIGKILL if the process that started it dies (a killed pytest leaves no server behind).

What was seen with it (Milvus 2.3.5, pymilvus 2.5.18, Linux x86_64, 2 cores):

* Healthy (GET /healthz on the metrics port says "OK") 2-3 s after start, and usable at
  once (create, insert, load, search); 8.5 s on the first start on a machine, which unpacks
  the binary. ~260 MB RSS; ~2% of a core when idle; ~200 MB of data dir when nearly empty.
* The gRPC servers bind the wildcard address: Milvus 2.3 has no listen-address setting
  (`<component>.ip` is only the address a component advertises; it is set to 127.0.0.1 here
  so the components talk over loopback). Embedded etcd binds 127.0.0.1 (set here). Clients
  must use the 127.0.0.1 URI that this module yields.
* SIGTERM alone can hang for minutes (the query node waits for coordinators that have
  already stopped; common.gracefulStopTimeout defaults to 1800 s). It is set to 3 s here:
  SIGTERM then ends the server in 0.1-8 s; whatever is left after the grace is SIGKILLed.
* Two servers at once on one machine work (all ports are free ones). They share
  /run/milvus/standalone.pid, which Milvus only writes and locks without checking.
* Milvus also reads its settings from environment variables (LOG_LEVEL -> log.level, ...),
  and the server inherits this process's environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import lzma
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import milvus  # the `milvus` PyPI package: server binary + config template, no dependencies

from tests.processes import die_with_parent, free_ports, session_members

# Components whose advertised address is pinned to loopback (their `ip:` key in milvus.yaml).
_COMPONENTS = (
    "rootCoord",
    "proxy",
    "queryCoord",
    "queryNode",
    "indexNode",
    "dataCoord",
    "dataNode",
)
_START_TIMEOUT_S = 120.0  # 2-9 s here; generous for a loaded 2-core machine and a cold cache
_STOP_GRACE_S = 10.0  # SIGTERM -> exit took 0.1-8 s with gracefulStopTimeout=3
_LOG_TAIL_LINES = 40


class MilvusServerError(RuntimeError):
    """The server did not come up; the message carries the end of its logs."""


def _bind(port: int) -> socket.socket | None:
    """A socket listening on 127.0.0.1:port, or None if the port is taken. SO_REUSEADDR,
    as Go's net.Listen (and so Milvus) uses: a port that the last server on this data_dir
    left in TIME_WAIT counts as free."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


def _all_free(ports: list[int]) -> bool:
    """Whether each port can be bound on 127.0.0.1 right now."""
    socks = [_bind(port) for port in ports]
    for sock in socks:
        if sock is not None:
            sock.close()
    return None not in socks


def _binary_dir() -> Path:
    """The unpacked server binary and its libraries, made once per machine and version."""
    packed = Path(milvus.__file__).parent / "data" / "bin"
    cache = Path(tempfile.gettempdir()) / f"milvus-{milvus.__version__}-bin-{os.getuid()}"
    done = cache / ".complete"
    if done.exists():
        return cache
    with open(f"{cache}.lock", "w") as lock:  # several test processes may start at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            partial = Path(f"{cache}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            for source in packed.glob("*.lzma"):
                target = partial / source.name.removesuffix(".lzma")
                with lzma.open(source) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                target.chmod(0o755)
            (partial / ".complete").touch()
            shutil.rmtree(cache, ignore_errors=True)
            partial.rename(cache)
    return cache


def _write_config(data_dir: Path) -> tuple[int, int]:
    """Writes data_dir/configs (milvus.yaml, glog.conf, etcd.yaml); returns the proxy and
    metrics ports. Data, logs and etcd's data go to data_dir/{data,logs}.

    The ports are kept in configs/ports.json and taken again when data_dir is used again:
    etcd still holds the old components' sessions (addresses included) until their lease
    runs out, and a restarted Milvus on new ports waits for that (~55 s seen), while on the
    old ports it is up at once. Ports no longer free are replaced by new ones.
    """
    saved = data_dir / "configs" / "ports.json"
    config = milvus.MilvusServerConfig(data_dir=str(data_dir))
    config.try_bind_port = _bind  # its own check binds without SO_REUSEADDR
    keys = sorted(key for key in config.configurable_items if key.endswith("_port"))
    keys += ["etcd_peer_port", "metrics_port"]  # not in milvus.yaml: etcd.yaml, environment
    ports = dict(zip(keys, free_ports(len(keys)), strict=True))
    with contextlib.suppress(OSError, ValueError):
        old = json.loads(saved.read_text())
        if sorted(old) == sorted(keys) and _all_free(list(old.values())):
            ports = old
    for component in _COMPONENTS:
        config.set(f"{component}.ip", "127.0.0.1")
    config.set("common.gracefulStopTimeout", 3)
    config.set("log.level", "warn")
    config.update(**{key: ports[key] for key in keys[:-2]})
    config.resolve()  # renders configs/milvus.yaml, makes data/ and logs/
    saved.write_text(json.dumps(ports))

    # Embedded etcd reads its listen addresses only from a file of its own; without one it
    # takes localhost:2379 and :2380 whatever milvus.yaml says.
    client = f"http://127.0.0.1:{ports['etcd_port']}"
    peer = f"http://127.0.0.1:{ports['etcd_peer_port']}"
    (data_dir / "configs" / "etcd.yaml").write_text(
        f"name: default\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: default={peer}\n"
    )
    return ports["proxy_port"], ports["metrics_port"]


def _log_tail(data_dir: Path) -> str:
    """The end of the server's own output and of each log file it wrote."""
    parts = []
    for path in [data_dir / "server.log", *sorted((data_dir / "logs").glob("*.log"))]:
        if path.is_file():
            lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
            parts.append(f"--- {path} (last {len(lines)} lines)\n" + "\n".join(lines))
    return "\n".join(parts) or "(no log written)"


def _healthy(metrics_port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{metrics_port}/healthz"
        with urllib.request.urlopen(url, timeout=1) as response:
            return b"OK" in response.read()
    except (OSError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the server's session, SIGKILL to whatever is left after `grace_s`."""
    sid = process.pid  # start_new_session: session id == process group id == its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        process.poll()  # reaps the server once it exits, so it is no zombie member
        if not session_members(sid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while members := session_members(sid):  # processes it started, if it ever does
        if time.monotonic() > deadline:
            raise RuntimeError(f"Milvus processes {members} survived SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGKILL)
        time.sleep(0.05)


@contextlib.contextmanager
def milvus_server(
    data_dir: Path, start_timeout_s: float = _START_TIMEOUT_S, stop_grace_s: float = _STOP_GRACE_S
) -> Iterator[str]:
    """A Milvus standalone server on 127.0.0.1, storing everything in `data_dir`.

    Yields its URI, "http://127.0.0.1:PORT", once it answers; stops it, and everything it
    started, on exit. Raises MilvusServerError (with the end of its logs) if it exits or is
    not healthy within `start_timeout_s`. A data_dir that a stopped server used may be given
    again: the data is still there.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = _binary_dir()
    proxy_port, metrics_port = _write_config(data_dir)
    env = {
        **os.environ,
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(metrics_port),  # also serves /healthz
        "MILVUSCONF": str(data_dir / "configs"),
        "ETCD_CONFIG_PATH": str(data_dir / "configs" / "etcd.yaml"),  # = etcd.config.path
        "LD_LIBRARY_PATH": os.pathsep.join(
            filter(None, [str(binary), os.environ.get("LD_LIBRARY_PATH")])
        ),
    }
    with open(data_dir / "server.log", "ab") as log:
        process = subprocess.Popen(
            [str(binary / "milvus"), "run", "standalone"],
            cwd=data_dir,  # glog.conf's log_dir=logs/ is relative to it
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _healthy(metrics_port):
            if process.poll() is not None:
                raise MilvusServerError(
                    f"Milvus exited with code {process.returncode} while starting\n"
                    + _log_tail(data_dir)
                )
            if time.monotonic() > deadline:
                raise MilvusServerError(
                    f"Milvus not healthy after {start_timeout_s:g} s\n" + _log_tail(data_dir)
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{proxy_port}"
    finally:
        _stop(process, stop_grace_s)
