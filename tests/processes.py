"""Helpers shared by the servers tests start (tests/milvus_server.py, tests/ray_cluster.py,
tests/test_milvus.py): free ports, children that die with the test, and finding every
process a server started."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import sys
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 (all held open while choosing)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: a SIGKILL when the thread that started it ends (pytest
    fixtures run in the main thread, so: when the test process ends)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes whose session id is `sid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after "pid (comm)": state ppid pgrp session ...; comm may hold spaces.
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            members.append(int(entry.name))
    return members
