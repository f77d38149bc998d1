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
# How often the exception is raised again once the time is up: one that lands in a callback
# Python runs for itself (a garbage-collector hook, a __del__) is swallowed there.
_REPEAT_SECONDS = 0.05


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in this thread if the block runs longer than ``seconds``.

    It arrives between two Python bytecodes, so it interrupts pure-Python work (a parser, a
    loop) in any thread, not only the main one as a signal would; a call into C code is
    interrupted once it returns.
    """
    limited = threading.get_ident()
    lock = threading.Lock()
    done = threading.Event()
    running = True

    def expire() -> None:
        if done.wait(seconds):
            return
        while True:
            with lock:
                if not running:
                    return
                _set_async_exc(limited, TimeLimitExceeded)
            if done.wait(_REPEAT_SECONDS):
                return

    threading.Thread(target=expire, name="time-limit", daemon=True).start()
    try:
        yield
    finally:
        # Stop the raising before anything else; an exception arriving meanwhile is the
        # same TimeLimitExceeded, and this must still happen.
        while running:
            try:
                with lock:
                    running = False
            except TimeLimitExceeded:
                continue
        done.set()
        # One raised after the block's last bytecode: take back what is undelivered.
        _set_async_exc(limited, ctypes.py_object())
