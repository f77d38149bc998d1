"""What ``benchmarks/watch.py`` runs and reads: the watching process (``rebuild-index
--watch``, or ``python -m service --watch``) and a reader that finds a word once it is
searchable (in the index folder directly, or through the service's HTTP API)."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import HttpClient, free_port, search_path
from indexing import ROOT

from index import Embedder, IndexFolder, Searcher, SearchRequest

logger = logging.getLogger("bench.watch")

SCRIPT = ROOT / "scripts" / "rebuild_index.py"
# One line per build in the watcher's log (stderr); the first build logs one too. The
# service with --watch logs the same line (its watcher is the same code).
BUILT = re.compile(r"indexed changes: .*?; published (\S+) in")
TIMEOUT = 300.0  # seconds to wait for any one thing before giving up


# --- the watching process ------------------------------------------------------------------

class WatchingProcess:
    """A process whose watcher logs one line per build to ``log`` (its stderr)."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = " ".join(command[1:3])
        self.log = log
        logger.info("starting %s", " ".join(command))
        with open(log, "wb") as err, open(log.with_suffix(".out"), "wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err,
                                            stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.process.pid

    def builds(self) -> int:
        """Builds published so far (the first one included)."""
        return len(BUILT.findall(self.log.read_text(errors="replace")))

    def wait_for_builds(self, count: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.builds() < count:
            self._check_running()
            if time.monotonic() > deadline:
                raise RuntimeError(f"no build {count} within {timeout:.0f} s:\n" + self.tail())
            time.sleep(0.1)

    def wait_until_ready(self, timeout: float = TIMEOUT) -> None:
        """Wait for the first build."""
        self.wait_for_builds(1, timeout)

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with "
                               f"{self.process.returncode}:\n" + self.tail())

    def quiet_for(self, seconds: float, timeout: float = TIMEOUT) -> int:
        """Wait until ``seconds`` pass without a new build; the number of builds then."""
        deadline = time.monotonic() + timeout
        count, since = self.builds(), time.monotonic()
        while time.monotonic() - since < seconds and time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.builds()
            if now != count:
                count, since = now, time.monotonic()
        return count

    def cpu_seconds(self) -> float:
        """utime + stime of the process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the ")" closing the command name: state is field 3, utime 14, stime 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Watcher(WatchingProcess):
    """``rebuild_index.py --watch`` on ``docs``."""

    def __init__(self, docs: Path, index: Path, log: Path, env: dict[str, str]) -> None:
        super().__init__([sys.executable, str(SCRIPT), "--watch", "--docs", str(docs),
                          "--index-dir", str(index)], log, env)


class WatchingService(WatchingProcess):
    """``python -m service --watch`` on ``docs``, on a free port of 127.0.0.1."""

    def __init__(self, docs: Path, index: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        super().__init__([sys.executable, "-m", "service", "--watch", "--docs", str(docs),
                          "--index-dir", str(index), "--host", "127.0.0.1",
                          "--port", str(self.port)], log, env)

    def status(self) -> dict[str, Any]:
        """GET /api/status."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/api/status")
            status: dict[str, Any] = json.loads(connection.getresponse().read())
            return status
        finally:
            connection.close()

    def wait_until_ready(self, timeout: float = TIMEOUT) -> None:
        """Wait until the service answers and its watcher has built and watches."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            try:
                watch = self.status()["watch"]
                if watch["state"] in ("watching", "polling") and watch["last_build"]:
                    return
            except OSError:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not watching within {timeout:.0f} s:\n" + self.tail())
            time.sleep(0.25)


# --- readers: when is a word searchable ----------------------------------------------------

class Reader:
    """Searches the live generation, re-opened whenever CURRENT names a new one."""

    def __init__(self, index: Path, embedder: Embedder) -> None:
        self.folder = IndexFolder(index)
        self.embedder = embedder
        self.searcher: Searcher | None = None

    def refresh(self) -> Searcher | None:
        live = self.folder.current_or_none()
        if live is None:
            return self.searcher
        if self.searcher is None or self.searcher.generation != live.name:
            try:
                searcher = Searcher.open(live, self.embedder)
            except Exception as e:  # pruned or replaced under us: the next poll sees the new one
                logger.debug("cannot open %s yet: %s", live.name, e)
                return self.searcher
            if self.searcher is not None:
                self.searcher.close()
            self.searcher = searcher
        return self.searcher

    def finds(self, word: str) -> bool:
        searcher = self.refresh()
        if searcher is None:
            return False
        hits = searcher.search(SearchRequest(word, k=5, mode="lexical")).hits
        return any(word in hit.passage.text for hit in hits)

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
            self.searcher = None


class HttpReader:
    """Asks the service: a word is searchable once an /api/search answer holds it."""

    def __init__(self, port: int) -> None:
        self.http = HttpClient(port, timeout=30)

    def finds(self, word: str) -> bool:
        status, body = self.http.get(search_path(word, k=5, mode="lexical"))
        if status != 200:
            return False
        return any(word in hit["text"] for hit in json.loads(body)["results"])

    def close(self) -> None:
        self.http.close()


def wait_until_found(finds: Callable[[str], bool], word: str, started: float, poll: float,
                     timeout: float = TIMEOUT) -> float:
    """Seconds from ``started`` (perf_counter) to the first query that finds ``word``."""
    while True:
        if finds(word):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{word!r} not searchable within {timeout:.0f} s")
        time.sleep(poll)
