"""``python -m service --watch``: the folder watcher of ``rebuild-index --watch`` in a thread
beside the service, so the index follows the docs folder while it is served.

The watcher shares the service's model, and each generation it publishes is loaded at once
(no wait for the next reload check). Its status is what /api/status and the page footer
report. One builder at a time still holds: the watcher takes the index folder's watch lock
and each build its build lock, as ``rebuild-index`` does.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from flask import Flask, current_app

from index import BuildReport, Config, SearchError
from index.watch import FolderWatcher, Timing, WatchStatus
from service.metrics import metrics_of
from service.state import LiveIndex

logger = logging.getLogger(__name__)

_EXTENSION = "folder_watch"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class ServiceWatcher:
    """A FolderWatcher over ``config.docs_dir`` run in a thread for the app's live index."""

    def __init__(self, app: Flask, config: Config, timing: Timing = Timing()) -> None:  # noqa: B008
        self.live: LiveIndex = app.extensions["live_index"]
        self.metrics = metrics_of(app)
        self.watcher = FolderWatcher(config, embedder=self.live.embedder, timing=timing,
                                     on_build=self._built)
        app.extensions[_EXTENSION] = self.watcher.status
        self._thread = threading.Thread(target=self._run, name="folder-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.watcher.run()
        except SearchError as e:  # the index folder cannot be written, the model not loaded
            logger.error("stopped watching the docs folder: %s", e)
            self.watcher.status.set("stopped", str(e))
        except Exception as e:  # the service goes on serving what is live
            logger.exception("stopped watching the docs folder")
            self.watcher.status.set("stopped", f"{type(e).__name__}: {e}")

    def _built(self, report: BuildReport) -> None:
        """Serve a generation the watcher published at once; count the build."""
        if self.metrics is not None:
            self.metrics.observe_build(report)
        if report.generation is not None:
            try:
                self.live.refresh()
            except Exception:  # the reload check tries again
                logger.exception("loading the new generation failed")

    def stop_watching(self) -> None:
        """Start no new build; said as the service's drain starts, so that a build under way
        then is known to be waited for, however quickly it ends during the drain."""
        if self.watcher.stop.is_set():
            return
        self.watcher.stop.set()
        if self._thread.is_alive() and self.watcher.building:
            logger.warning("waiting for the build under way to publish (signal again "
                           "to abandon it)")

    def stop(self) -> None:
        """Stop watching; a build under way is let publish first, unless a stop signal comes
        while it runs (then it is abandoned: the live generation stays, and the next build
        removes what it left). Call from the main thread, as the service's drain ends."""
        self.stop_watching()
        if not self._thread.is_alive():
            return
        abandon = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            abandon.set()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, on_signal) for s in _STOP_SIGNALS
                        if signal.getsignal(s) != signal.SIG_IGN}
        try:
            while self._thread.is_alive() and not abandon.is_set():
                self._thread.join(0.1)
            if self._thread.is_alive():
                logger.warning("build abandoned; the live generation stays as it was")
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def watch_status() -> WatchStatus | None:
    """The status of this app's folder watcher; None when it runs none."""
    status: WatchStatus | None = current_app.extensions.get(_EXTENSION)
    return status
