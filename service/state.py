"""The live searcher of a running service, and its reload when a new generation appears."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from flask import current_app

from index import (
    Config,
    Embedder,
    IndexFolder,
    IndexMismatchError,
    IndexNotBuiltError,
    Searcher,
    SearchError,
    VectorStoreUnavailableError,
)

logger = logging.getLogger(__name__)

# What opening a damaged or mismatched generation raises (SQLite's DatabaseError: a
# passages.sqlite damaged in a way its size and checksum did not show, e.g. after the check).
_UNUSABLE = (SearchError, OSError, RuntimeError, sqlite3.DatabaseError)


class LiveIndex:
    """Holds the searcher of the live generation; swaps in a new one only once it is open.

    Requests take ``searcher`` once and use that object to the end, so a swap never affects
    a request in flight. A generation that fails to open is refused and remembered, so it
    is not retried on every check; a service that starts on one serves the newest older
    generation that opens instead, if there is one.
    """

    def __init__(self, folder: IndexFolder, embedder: Embedder, config: Config) -> None:
        self.config = config
        self.folder = folder
        self.embedder = embedder
        self.searcher: Searcher | None = None
        self._refused: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

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
                logger.error("refused generation %s, still serving %s: %s",
                             folder.name, loaded or "nothing", e)
                # With nothing loaded yet (a start on a damaged generation), the newest
                # older generation that passes its checks is the last good one: serve it.
                fallback = None if self.searcher else self._older_good_generation(folder)
                if fallback is None:
                    return False
                searcher = fallback
            self.searcher = searcher
            logger.info("serving generation %s: %d documents, %d passages, model %s",
                        searcher.generation, searcher.document_count, searcher.passage_count,
                        self.embedder.info.name)
            return True

    def _refuse_current(self, reason: str) -> bool:
        """Log a damaged CURRENT once; with nothing loaded yet, serve the newest good
        generation meanwhile."""
        if self._refused != reason:
            self._refused = reason
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
        self.searcher = fallback
        return True

    def _open(self, folder: Path) -> Searcher:
        searcher = Searcher.open(folder, self.embedder, self.config.fusion, self.config.alpha,
                                 vector_store=self.config.vector_store)
        # The first query pays for lazy set-up in ONNX Runtime, FAISS and SQLite: pay it
        # here, before any user waits on it.
        searcher.search("warm up", k=1)
        return searcher

    def _older_good_generation(self, refused: Path, including: bool = False) -> Searcher | None:
        for folder in reversed(self.folder.published()):
            if folder.name > refused.name or (folder.name == refused.name and not including):
                continue
            try:
                searcher = self._open(folder)
            except _UNUSABLE as e:
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
    """The searcher for this request.

    Raises:
        IndexNotBuiltError: no generation is loaded (mapped to 503).
    """
    searcher = get_live_index().searcher
    if searcher is None:
        raise IndexNotBuiltError("no index is loaded yet: run rebuild-index")
    return searcher


def index_info(searcher: Searcher) -> dict[str, Any]:
    """What the API and the page footer say about the index being served."""
    return {
        "generation": searcher.generation,
        "model": searcher.manifest["model"]["name"],
        "built_at": searcher.manifest["built_at"],
        "documents": searcher.document_count,
        "passages": searcher.passage_count,
    }
