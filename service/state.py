"""The live searcher of a running service, and its reload when a new generation appears."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g

from index import (
    Config,
    Embedder,
    IndexFolder,
    IndexMismatchError,
    IndexNotBuiltError,
    Searcher,
    SearchError,
    SearchRequest,
    VectorStoreUnavailableError,
)

logger = logging.getLogger(__name__)

# What opening a damaged or mismatched generation raises (SQLite's DatabaseError: a
# passages.sqlite damaged in a way its size and checksum did not show, e.g. after the check).
_UNUSABLE = (SearchError, OSError, RuntimeError, sqlite3.DatabaseError)


class Lease:
    """A searcher and how many requests are using it; closed once replaced and unused."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.users = 0
        self.replaced = False


class LiveIndex:
    """Holds the searcher of the live generation; swaps in a new one only once it is open.

    Requests lease the searcher (``lease``/``release``, which ``get_searcher`` does) and use
    that object to the end, so a swap never affects a request in flight; the replaced
    searcher is closed, its files with it, when the last request using it is done. A
    generation that fails to open is refused and remembered, so it is not retried on every
    check; a service that starts on one serves the newest older generation that opens
    instead, if there is one.
    """

    def __init__(self, folder: IndexFolder, embedder: Embedder, config: Config) -> None:
        self.config = config
        self.folder = folder
        self.embedder = embedder
        self._live: Lease | None = None
        self._refused: str | None = None
        self._lock = threading.Lock()  # one refresh at a time
        self._leases_lock = threading.Lock()  # held by requests only for a count, never long
        self._stop = threading.Event()
        # Generations swapped in after the first, and generations refused; GET /metrics.
        self.reloads = 0
        self.refusals = 0

    @property
    def searcher(self) -> Searcher | None:
        """The live searcher, to look at (to search with it, ``lease`` it)."""
        live = self._live
        return live.searcher if live else None

    def lease(self) -> Lease | None:
        """The live searcher's lease, counted as used until ``release``; None: nothing is
        loaded."""
        with self._leases_lock:
            live = self._live
            if live is not None:
                live.users += 1
            return live

    def release(self, lease: Lease) -> None:
        with self._leases_lock:
            lease.users -= 1
            unused = lease.replaced and lease.users == 0
        if unused:
            self._close(lease)

    def _serve(self, searcher: Searcher) -> None:
        """Make ``searcher`` the live one; the one it replaces closes when no request uses it."""
        with self._leases_lock:
            old, self._live = self._live, Lease(searcher)
            if old is not None:
                old.replaced = True
                self.reloads += 1
            unused = old is not None and old.users == 0
        if old is not None and unused:
            self._close(old)

    def _close(self, lease: Lease) -> None:
        logger.info("closing generation %s: no request uses it any more",
                    lease.searcher.generation)
        lease.searcher.close()

    def refresh(self) -> bool:
        """Load the generation CURRENT names if it is new; True when it switched."""
        with self._lock:
            try:
                folder = self.folder.current()
            except IndexNotBuiltError:
                return False
            except IndexMismatchError as e:  # CURRENT names no generation of this folder
                return self._refuse_current(str(e))
            loaded = self.searcher.generation if self.searcher else None
            if folder.name in (loaded, self._refused):
                return False
            try:
                searcher = self._open(folder)
            except VectorStoreUnavailableError as e:
                # Passing: tried again at the next check, not refused for good.
                logger.error("cannot open generation %s yet, still serving %s: %s",
                             folder.name, loaded or "nothing", e)
                return False
            except _UNUSABLE as e:
                self._refused = folder.name
                self.refusals += 1
                logger.error("refused generation %s, still serving %s: %s",
                             folder.name, loaded or "nothing", e)
                # With nothing loaded yet (a start on a damaged generation), the newest
                # older generation that passes its checks is the last good one: serve it.
                fallback = None if self.searcher else self._older_good_generation(folder)
                if fallback is None:
                    return False
                searcher = fallback
            self._serve(searcher)
            logger.info("serving generation %s: %d documents, %d passages, model %s",
                        searcher.generation, searcher.document_count, searcher.passage_count,
                        self.embedder.info.name)
            return True

    def _refuse_current(self, reason: str) -> bool:
        """Log a damaged CURRENT once; with nothing loaded yet, serve the newest good
        generation meanwhile."""
        if self._refused != reason:
            self._refused = reason
            self.refusals += 1
            logger.error("%s; still serving %s", reason,
                         self.searcher.generation if self.searcher else "nothing")
        if self.searcher:
            return False
        published = self.folder.published()
        if not published:
            return False
        fallback = self._older_good_generation(published[-1], including=True)
        if fallback is None:
            return False
        self._serve(fallback)
        return True

    def _open(self, folder: Path) -> Searcher:
        searcher = Searcher.open(folder, self.embedder, self.config.fusion, self.config.alpha,
                                 vector_store=self.config.vector_store)
        # The first query pays for lazy set-up in ONNX Runtime, FAISS and SQLite: pay it
        # here, before any user waits on it.
        try:
            searcher.search(SearchRequest("warm up", k=1))
        except BaseException:
            searcher.close()  # refused: its files are not kept open
            raise
        return searcher

    def _older_good_generation(self, refused: Path, including: bool = False) -> Searcher | None:
        for folder in reversed(self.folder.published()):
            if folder.name > refused.name or (folder.name == refused.name and not including):
                continue
            try:
                searcher = self._open(folder)
            except _UNUSABLE as e:
                self.refusals += 1
                logger.error("refused older generation %s too: %s", folder.name, e)
                continue
            logger.warning("serving the older generation %s until a good one is published",
                           folder.name)
            return searcher
        return None

    def watch(self, interval: float) -> None:
        """Check for a new generation every ``interval`` seconds in a daemon thread."""
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # the watcher must outlive any one bad check
                    logger.exception("index reload check failed")

        threading.Thread(target=loop, name="index-reload", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def get_live_index() -> LiveIndex:
    live: LiveIndex = current_app.extensions["live_index"]
    return live


def get_searcher() -> Searcher:
    """The searcher for this request, the same one to its end, however often asked.

    Raises:
        IndexNotBuiltError: no generation is loaded (mapped to 503).
    """
    lease: Lease | None = g.get("search_lease")
    if lease is None:
        lease = get_live_index().lease()
        if lease is None:
            raise IndexNotBuiltError("no index is loaded yet: run rebuild-index")
        g.search_lease = lease
    return lease.searcher


def init_app(app: Flask) -> None:
    """Give back each request's searcher lease when the request is done."""

    @app.teardown_appcontext
    def release_searcher(error: BaseException | None) -> None:
        lease: Lease | None = g.pop("search_lease", None)
        if lease is not None:
            app.extensions["live_index"].release(lease)


def index_info(searcher: Searcher) -> dict[str, Any]:
    """What the API and the page footer say about the index being served: its age is
    seconds since it was built, and ``skipped`` how many files it left out (None: its
    manifest predates that record)."""
    skipped = skipped_files(searcher)
    return {
        "generation": searcher.generation,
        "model": searcher.manifest["model"]["name"],
        "built_at": searcher.manifest["built_at"],
        "age_seconds": generation_age(searcher),
        "documents": searcher.document_count,
        "passages": searcher.passage_count,
        "skipped": None if skipped is None else len(skipped),
    }


def generation_age(searcher: Searcher) -> float:
    """Seconds since the generation was built (its manifest's built_at)."""
    built = datetime.fromisoformat(searcher.manifest["built_at"])
    return round(max((datetime.now(UTC) - built).total_seconds(), 0.0), 1)


def skipped_files(searcher: Searcher) -> list[dict[str, str]] | None:
    """The files the generation left out, ``{"source", "reason"}`` by path; None when its
    manifest does not record them (built before it did)."""
    skipped: list[dict[str, str]] | None = searcher.manifest.get("skipped")
    return skipped
