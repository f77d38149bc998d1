"""The production HTTP server: waitress, with limits chosen so one client cannot stop it."""

from __future__ import annotations

from typing import Any

import waitress
from flask import Flask

from service import MAX_BODY_BYTES

# Waitress keeps a connection in its event loop and hands only complete requests to the
# request threads, so an idle or slow connection costs a slot, not a thread: slots are
# cheap, and the default of 100 let about 98 idle sockets lock everyone else out.
SETTINGS: dict[str, Any] = {
    "connection_limit": 1000,
    # select() fails past 1,024 file descriptors; poll() has no such limit.
    "asyncore_use_poll": True,
    # An idle connection is closed after this many seconds, checked every cleanup_interval.
    "channel_timeout": 30,
    "cleanup_interval": 10,
    # Refused with 413 by the server before the body is read: waitress would otherwise spool
    # a body of up to 1 GB to a temporary file before Flask saw it. Below inbuf_overflow
    # (512 KiB), so no body ever reaches the disk; Flask refuses those over MAX_BODY_BYTES.
    "max_request_body_size": 4 * MAX_BODY_BYTES,
    "ident": "search",
}


def create_server(app: Flask, host: str, port: int, threads: int) -> Any:
    """A waitress server for ``app``, listening already; ``.run()`` serves.

    Raises:
        OSError: the address cannot be bound (in use, or not this machine's).
    """
    return waitress.create_server(app, host=host, port=port, threads=threads, **SETTINGS)
