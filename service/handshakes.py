"""Stopping a listening socket from starting new TCP connections while those under way
complete (Linux; a classic BPF filter on the socket)."""

from __future__ import annotations

import ctypes
import socket
import sys


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


def drop_new_handshakes(sock: socket.socket) -> bool:
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
