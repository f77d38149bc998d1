"""A real local Ray cluster for tests: a head node and one worker node, both on 127.0.0.1.

    with ray_cluster(tmp_path) as address:          # "127.0.0.1:PORT"
        env = {**os.environ, **DRIVER_ENV}
        subprocess.run([..., "rebuild-index", "--ray", address], env=env, check=True)

Checked with Ray 2.60.0 on Linux. What this module works around, each seen there:

* Ray rewrites the literal host "127.0.0.1" (and "localhost", "::1") to the machine's
  outward address (here eth0's) in `ray start --node-ip-address`, `ray start --address`
  and `ray.init(address=...)` (ray-project/ray#59110). Only a node whose IP is exactly
  127.0.0.1 binds its gRPC servers to loopback; any other IP (127.0.0.2 included) binds
  0.0.0.0. So:
    - the head and every process it spawns run with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
      which on Linux only turns that rewrite off (and forbids joining as a worker node);
    - the worker node can't have that variable while `ray start` runs (it aborts:
      "Multi-node Ray clusters are not supported"), so it is started by a few lines that
      turn the rewrite off in that process only and set the variable for its children;
    - a driver must have DRIVER_ENV in its environment *before it imports ray*, or
      `ray.init(address="127.0.0.1:PORT")` tries the outward address and times out.
* `ray stop` stops every Ray process on the machine and takes no address or temp dir, so
  it is never used here. Each node is `ray start --block` in a session of its own. SIGTERM
  makes it stop its node's processes, in about 1 s: the worker first (stopped with or after
  the head, it can hang trying to reach the head's GCS), and with
  RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0 (otherwise a node that ran a job, e.g. the head
  with Ray Data's stats actor, "drains" for up to 30 s). Whatever is left in the session
  is then SIGKILLed. `ray start` is set to die with the thread that started it, and Ray's
  processes die with it, so a SIGKILLed pytest leaves no raylet or GCS behind; its two
  agents (ray::DashboardAgent, ray::RuntimeEnvAgent) notice within about a minute, and
  the short temp dir (see below) stays in /tmp.
* Ray checks that its Unix sockets (temp dir + ~70 characters) fit in 107 bytes, which a
  pytest tmp_path often doesn't; Ray's temp dir is a short folder in /tmp, moved into
  tmp_dir/ray when the cluster has stopped, so its logs stay with the test.
* With --include-dashboard false the head still starts a minimal dashboard process on
  port 8265 unless told otherwise; the ports with a fixed default are given free ones
  (not --ray-client-server-port: Ray refuses it without ray[client]).

For the driver, not handled here: Ray Data 2.60's `DataContext()` emits DeprecationWarnings
of its own (`use_push_based_shuffle`, `use_polars`, `use_arrow_tensor_v2`), which pytest's
`filterwarnings = ["error"]` turns into errors; run the driver in a subprocess or ignore
DeprecationWarning from module ray.data.context. Ray chooses which node runs what: with
`num_cpus` 1 per node and per actor, a pool of 2 actors takes one CPU on each node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from tests.processes import die_with_parent, free_ports, session_members

#: What a driver process (ray.init, or a script that calls it) needs to reach the cluster at
#: "127.0.0.1:PORT": set it in the driver's environment before `import ray`.
DRIVER_ENV: dict[str, str] = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}

# Starts a worker node: `ray start` with the localhost rewrite turned off in this process
# (a private function of Ray's, so a Ray that renames it fails here, loudly), and the
# variable that turns it off in every process the node spawns.
_WORKER_START = """\
import os, sys
import ray._private.services as services
from ray.scripts.scripts import main
services.resolve_ip_for_localhost = lambda host: host
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
sys.argv[0] = "ray"
main()
"""

# Connects as a driver and waits until the cluster has the wanted number of live nodes.
_WAIT_FOR_NODES = """\
import sys, time
import ray
address, wanted, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
ray.init(address=address, log_to_driver=False, logging_level="ERROR")
while (alive := sum(1 for node in ray.nodes() if node["Alive"])) < wanted:
    if time.monotonic() > deadline:
        sys.exit(f"{alive} of {wanted} Ray nodes alive at {address}")
    time.sleep(0.2)
ray.shutdown()
"""

_OBJECT_STORE_BYTES = 128 * 1024 * 1024  # per node; Ray's default is 30% of the memory
_STOP_GRACE_S = 15.0


class RayClusterError(RuntimeError):
    """The cluster did not come up; the message carries the end of its logs."""


# prctl(2), looked up here rather than in the forked child, where dlopen's lock may be held.


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Node:
    """One `ray start --block`, in a new session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        try:
            self.proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its session id is its pid: see stop()
                preexec_fn=die_with_parent,
            )
        except BaseException:
            self._out.close()
            raise

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise RayClusterError(
                f"Ray {self.name} node exited with {self.proc.returncode}:\n{_tail(self.log)}"
            )

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `ray start --block` stops its node

    def stop(self, deadline: float) -> None:
        """Wait for the graceful stop until `deadline`, then SIGKILL the whole session."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        sid = self.proc.pid
        for _ in range(50):
            members = session_members(sid)
            if not members:
                break
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        else:
            raise RuntimeError(f"Ray {self.name} processes survived SIGKILL: {members}")
        self.proc.wait()
        self._out.close()


def _wait_for_port(port: int, head: _Node, deadline: float) -> None:
    while True:
        head.check_running()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RayClusterError(f"Ray head opened no port {port}:\n{_tail(head.log)}")
        time.sleep(0.1)


@contextlib.contextmanager
def ray_cluster(
    tmp_dir: Path,
    python: str = sys.executable,
    *,
    num_cpus: int = 1,
    env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> Iterator[str]:
    """Start a head and a worker node on 127.0.0.1; yield the address "127.0.0.1:PORT".

    `python` must have Ray installed; its Ray workers run with that interpreter and see
    `env` (on top of os.environ), e.g. PYTHONPATH for code that actors import. Each node
    offers `num_cpus` CPUs. A driver needs DRIVER_ENV (see above). On exit every process
    of the cluster has ended, and Ray's temp dir (with its logs) is in tmp_dir/ray.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: see the docstring
    node_env = {
        **os.environ,
        **(env or {}),
        "RAY_USAGE_STATS_ENABLED": "0",
        # On SIGTERM a node otherwise first "drains" for up to 30 s once a job (e.g. Ray
        # Data's stats actor on the head) has run there.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }
    port, dashboard_port, head_agent_port, worker_agent_port = free_ports(4)
    address = f"127.0.0.1:{port}"
    common = [
        "--node-ip-address", "127.0.0.1",
        "--num-cpus", str(num_cpus),
        "--object-store-memory", str(_OBJECT_STORE_BYTES),
        "--disable-usage-stats",
        "--block",
    ]  # fmt: skip
    nodes: list[_Node] = []
    try:
        deadline = time.monotonic() + timeout
        head = _Node(
            "head",
            [python, "-m", "ray.scripts.scripts", "start", "--head", *common,
             "--port", str(port),
             "--include-dashboard", "false",
             "--dashboard-port", str(dashboard_port),
             "--dashboard-agent-listen-port", str(head_agent_port),
             "--temp-dir", str(ray_tmp / "head")],
            {**node_env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
            tmp_dir / "ray-head.log",
        )  # fmt: skip
        nodes.append(head)
        _wait_for_port(port, head, deadline)
        worker_env = {k: v for k, v in node_env.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
        nodes.append(
            _Node(
                "worker",
                [python, "-c", _WORKER_START, "start", *common,
                 "--address", address,
                 "--dashboard-agent-listen-port", str(worker_agent_port),
                 "--temp-dir", str(ray_tmp / "worker")],
                worker_env,
                tmp_dir / "ray-worker.log",
            )
        )  # fmt: skip
        try:
            subprocess.run(
                [python, "-c", _WAIT_FOR_NODES, address, "2", str(deadline - time.monotonic())],
                env={**node_env, **DRIVER_ENV},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()) + 30,
                check=True,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            for node in nodes:
                node.check_running()
            output = exc.stderr if isinstance(exc.stderr, str) else ""
            raise RayClusterError(
                f"Ray cluster at {address} had no 2 live nodes within {timeout} s:\n"
                f"{output[-3000:]}\n--- worker ---\n{_tail(nodes[-1].log)}"
            ) from exc
        yield address
    finally:
        # The worker first: a worker node stopped after the head (or with it) can hang on
        # its way down, trying to reach the head's GCS.
        errors = []
        for node in reversed(nodes):
            node.terminate()
            try:
                node.stop(time.monotonic() + _STOP_GRACE_S)
            except RuntimeError as exc:  # still stop the other node
                errors.append(exc)
        # Nothing runs from it any more: keep the logs with the test, leave /tmp clean.
        shutil.rmtree(tmp_dir / "ray", ignore_errors=True)
        shutil.move(ray_tmp, tmp_dir / "ray")
        if errors:
            raise errors[0]
