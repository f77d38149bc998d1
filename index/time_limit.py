"""A time limit on one piece of work in the current thread, such as reading one file."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(BaseException):
    """Raised in the limited thread when its time is up.

    A BaseException, so that the parsers' own ``except Exception`` cannot swallow it.
    """


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in this thread if the block runs longer than ``seconds``.

    It arrives between two Python bytecodes, so it interrupts pure-Python work (a parser, a
    loop) in any thread, not only the main one as a signal would; a call into C code is
    interrupted once it returns.
    """
    thread = threading.get_ident()
    lock = threading.Lock()
    running = True

    def expire() -> None:
        with lock:
            if running:
                _set_async_exc(thread, TimeLimitExceeded)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            running = False
        timer.cancel()
        # It may have expired after the block's last bytecode: take back what is undelivered.
        _set_async_exc(thread, ctypes.py_object())
