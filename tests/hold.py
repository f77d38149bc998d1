"""Runs a script and stops it (SIGSTOP) at one point of its work, for a test to kill it there.

    python tests/hold.py stderr:TEXT script.py ARGS...   once the script writes TEXT to stderr
    python tests/hold.py open:NAME script.py ARGS...     as the script opens a file named NAME

Before stopping, it writes "held at ..." to stderr. A test waits for that line and kills the
process: the kill then lands at that point however fast or slow the machine is, where a test
that polls and kills lands wherever the run happens to be. Nothing of the script is replaced:
its stderr is passed through, and the open is seen by a Python audit hook.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from typing import Any, TextIO

HELD = "held at"


def hold(point: str) -> None:
    sys.__stderr__.write(f"\n{HELD} {point}\n")  # type: ignore[union-attr]
    sys.__stderr__.flush()  # type: ignore[union-attr]
    os.kill(os.getpid(), signal.SIGSTOP)


class HeldAtText:
    """A stderr that stops the process once ``text`` has been written through it."""

    def __init__(self, stream: TextIO, text: str) -> None:
        self._stream, self._text = stream, text

    def write(self, data: str) -> int:
        written = self._stream.write(data)
        if self._text in data:
            self._stream.flush()
            hold(f"stderr {self._text!r}")
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    kind, _, marker = sys.argv[1].partition(":")
    script = sys.argv[2]
    if kind == "stderr":
        sys.stderr = HeldAtText(sys.stderr, marker)  # type: ignore[assignment]
    elif kind == "open":
        def on_open(event: str, args: tuple[Any, ...]) -> None:
            path = args[0] if event == "open" and args else None
            if isinstance(path, str | os.PathLike) and os.path.basename(path) == marker:
                hold(f"open {marker}")

        sys.addaudithook(on_open)
    else:
        raise SystemExit(f"unknown hold {sys.argv[1]!r}")
    # As if the script were run itself: its folder first on the path, its own argv.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
