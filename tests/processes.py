"""Process helpers shared by the test servers (tests/milvus_server.py, tests/ray_cluster.py):
children that die with the test, and finding every process a server started."""

from __future__ import annotations

import ctypes
import signal
import sys
from pathlib import Path

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
