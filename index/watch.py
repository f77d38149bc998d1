"""Watching the docs folder so the index follows it: ``rebuild-index --watch``.

A FolderWatcher builds once, then listens to the file system's change notifications
(watchfiles; it polls only where notifications do not work: a network file system, or a
kernel that refuses them) and publishes an incremental generation once the changes settle:

- a burst of events becomes one build: it waits until no event came for ``quiet`` seconds,
  and no longer than ``max_delay`` after the first, so a steady trickle still builds;
- a file still being written is not read half-way: the size and mtime of every changed path
  must hold for ``settle`` seconds (for at most ``max_unsettled``);
- editor and system temp files and hidden paths cause no build (``index.documents.is_temporary``);
- the docs folder vanishing keeps the live generation: the watcher waits for it to return,
  and a folder that comes back (or replaces it) is built only once the whole folder is quiet
  and holds still, as a copy still filling it would otherwise publish part of the documents;
- a docs folder with no file in it (an empty mount point) publishes nothing: the live
  generation stays until files appear;
- a failed build keeps the live generation and is tried again after a growing delay;
- one watcher per index folder (its ``.watch.lock``): a second one waits for the first to stop.

Its ``status`` (a WatchStatus) says what it is doing and how its last build went, for a
service running it in a thread (``python -m service --watch``) to report.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from types import FrameType
from typing import Any

import watchfiles

from index.build import BuildReport, build_index
from index.config import Config
from index.documents import SkippedFile, is_temporary, skipped_records
from index.embedding import Embedder, find_model
from index.errors import BuildError, SearchError
from index.generations import IndexFolder

logger = logging.getLogger(__name__)

WATCH_LOCK = ".watch.lock"  # in the index folder, held by the watcher for its whole life
# File systems where the kernel only sees the changes made through this machine.
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
    "davfs", "drvfs", "fuse.sshfs", "fuse.glusterfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
})


@dataclass(frozen=True)
class Timing:
    """How long the watcher waits for what, in seconds."""

    quiet: float = 0.5  # no event for this long: the changes have settled
    max_delay: float = 5.0  # ... or this long since the first change of a steady trickle
    settle: float = 0.3  # the changed files' sizes and mtimes hold this long before a build
    max_unsettled: float = 60.0  # a file that keeps changing holds a build back this long
    first_retry: float = 1.0  # after a failed build; doubled after each failure in a row
    max_retry: float = 60.0
    poll_interval: float = 0.5  # polling: between scans; also checks for a missing folder
    tick: float = 0.25  # when nothing happens: checks that the folder is still there


@dataclass(frozen=True)
class BuildOutcome:
    """How a watcher's build went."""

    finished_at: datetime
    seconds: float
    error: str | None = None  # why it failed; None: it succeeded
    generation: str | None = None  # what it published; None: up to date, or failed
    added: int = 0
    changed: int = 0
    removed: int = 0
    skipped: tuple[SkippedFile, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.error is None,
            "error": self.error,
            "finished_at": self.finished_at.isoformat(timespec="seconds"),
            "seconds": round(self.seconds, 3),
            "generation": self.generation,
            "added": self.added, "changed": self.changed, "removed": self.removed,
            "skipped": skipped_records(self.skipped),
        }


class WatchStatus:
    """What a watcher is doing, written by its thread and read by any other.

    ``state`` is one of "starting", "waiting" (another watcher holds the index folder),
    "watching", "polling", "folder missing", "folder empty" (no file to index: the live
    generation stays), "retrying" (after a failed build) and "stopped"; ``detail`` says
    why, where there is a why (what polling is for, the error and when the next try is).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: str = "starting"
        self._detail: str | None = None
        self._pending = False  # changes seen and not built yet
        self._building = False
        self._last_build: BuildOutcome | None = None

    def set(self, state: str, detail: str | None = None) -> None:
        with self._lock:
            self._state, self._detail = state, detail

    def update(self, *, pending: bool | None = None, building: bool | None = None,
               last_build: BuildOutcome | None = None) -> None:
        with self._lock:
            if pending is not None:
                self._pending = pending
            if building is not None:
                self._building = building
            if last_build is not None:
                self._last_build = last_build

    @property
    def last_build(self) -> BuildOutcome | None:
        with self._lock:
            return self._last_build

    def summary(self) -> dict[str, Any]:
        """The few fields a readiness probe wants: state, pending, and whether the last build
        succeeded and when it finished (both null before the first one)."""
        with self._lock:
            last = self._last_build
            return {"state": self._state, "pending": self._pending,
                    "last_build_ok": None if last is None else last.error is None,
                    "last_build_finished_at":
                        None if last is None else last.finished_at.isoformat(timespec="seconds")}

    def as_json(self) -> dict[str, Any]:
        """One consistent view: state, detail, pending, building, last_build (or null)."""
        with self._lock:
            last = self._last_build
            return {"state": self._state, "detail": self._detail, "pending": self._pending,
                    "building": self._building,
                    "last_build": last.as_json() if last else None}


def ignored(relative: PurePath) -> bool:
    """Whether a change to this path (relative to the docs folder) is no reason to build."""
    # Hidden names (".git/", ".notes.md.swp") anywhere in a path, and temporary files: the
    # loader reads neither.
    if any(part.startswith(".") for part in relative.parts):
        return True
    return bool(relative.parts) and is_temporary(relative.name)


def polling_reason(folder: Path) -> str | None:
    """Why ``folder`` must be polled instead of watched through notifications, if it must."""
    forced = os.environ.get("WATCHFILES_FORCE_POLLING", "")
    if forced and forced.lower() not in {"false", "disable", "disabled"}:
        return "WATCHFILES_FORCE_POLLING is set"
    kind = filesystem_type(folder)
    if kind in NETWORK_FILE_SYSTEMS:
        return f"the folder is on {kind}, whose notifications miss changes made elsewhere"
    return None


def filesystem_type(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the file system holding ``path`` ("ext4", "nfs4"), None if unknown."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:  # not Linux
        return None
    real = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        # "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE ..."
        mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):  # the last of two mounts on one point wins
            best, kind = mount, fields[fields.index("-", 6) + 1]
    return kind


@dataclass
class _Pending:
    """Changes not built yet."""

    paths: set[str] = field(default_factory=set)
    reason: str | None = None  # a build wanted without a file event: "start", "folder back"
    # The folder came back or was replaced: all of it, not only the paths, must be quiet and
    # hold still before a build (a copy restoring it makes events only once it is watched).
    restored: bool = False
    events: int = 0
    first: float = 0.0  # time.monotonic() of the first and the last event
    last: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.paths) or self.reason is not None

    def add(self, path: str, now: float) -> None:
        if not self.paths and not self.restored:
            self.first = now
        self.paths.add(path)
        self.last = now
        self.events += 1

    def folder_returned(self, reason: str, now: float) -> None:
        """The docs folder is back or was replaced: wait for it as for a burst of events."""
        self.reason = self.reason or reason
        if not self.restored:
            self.restored, self.first = True, now
        self.last = now


class _Abort(BaseException):
    """A second stop signal during a build: give the build up (raised in the main thread)."""


class FolderWatcher:
    """Keeps the index of ``config.docs_dir`` current until ``stop`` is set."""

    def __init__(
        self, config: Config, *, embedder: Embedder | None = None,
        ray_address: str | None = None, progress: bool = False, timing: Timing = Timing(),  # noqa: B008
        on_build: Callable[[BuildReport], None] | None = None,
        stop: threading.Event | None = None, full: bool = False,
    ) -> None:
        """
        Args:
            embedder: the loaded passage model (else loaded once when the watcher starts).
            full: the first build re-embeds everything.
            progress: progress bars on stderr for the first build (never for later ones).
            on_build: called with the report of every build that succeeded, before the
                status reports it.
        """
        self.config = config
        self.root = Path(os.path.abspath(config.docs_dir))
        self.folder = IndexFolder(config.index_dir)
        self.timing = timing
        self.stop = stop or threading.Event()
        self.building = False  # a build is under way
        self.builds = 0  # builds that succeeded
        self.status = WatchStatus()
        # The state it returns to after a failed build is retried: watching or polling.
        self._mode: tuple[str, str | None] = ("watching", None)
        self._embedder = embedder
        self._ray_address = ray_address
        self._progress = progress
        self._on_build = on_build
        self._full = full
        self._excluded = self._own_folders()
        self._pending = _Pending()
        self._snapshot: dict[str, tuple[int, int] | None] | None = None  # of pending paths
        self._snapshot_at = 0.0
        self._failures = 0  # failed builds in a row
        self._retry_at = 0.0
        self._empty_since: float | None = None  # the folder held no file when last looked

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Build, then keep building after changes, until ``stop`` is set.

        Raises:
            BuildError: the index folder cannot be written at all.
            ModelError: the model cannot be loaded.
        """
        level = logging.getLogger("watchfiles").level
        if level == logging.NOTSET:  # its "3 changes detected" on every event is noise
            logging.getLogger("watchfiles").setLevel(logging.WARNING)
        try:
            with self._watch_lock():
                if self.stop.is_set():
                    return
                self._run()
        finally:
            self.status.set("stopped")
        logger.info("stopped watching %s", self.root)

    def _run(self) -> None:
        self.status.set("starting")
        if self._embedder is None:
            backend = self.config.passage_backend
            self._embedder = Embedder.load(find_model(self.config.model), backend, backend,
                                           self.config.cache_dir)
        self._pending.reason = "start"
        self.status.update(pending=True)
        identity: tuple[int, int] | None = None
        while not self.stop.is_set():
            now = self._folder_identity()
            if now is None:
                now = self._wait_for_folder()
                if now is None:
                    break
            elif identity is not None and now != identity:
                logger.warning("docs folder %s was replaced: watching the new one", self.root)
                self._pending.folder_returned("folder replaced", time.monotonic())
                self.status.update(pending=True)
            identity = now
            self._watch(identity)

    def run_until_signalled(self) -> None:
        """``run`` in the main thread until SIGINT or SIGTERM. The first signal lets a build
        under way finish and publish; a second one aborts it (the live generation stays)."""

        def stop(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.building and self.stop.is_set():
                raise _Abort(name)
            if self.building:
                logger.warning("%s: stopping once the build under way is published "
                               "(signal again to abort it)", name)
            else:
                logger.info("%s: stopping", name)
            self.stop.set()

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.run()
        except _Abort as e:
            logger.warning("%s: build aborted; the live generation stays as it was", e)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    # ------------------------------------------------------------------ watching

    def _watch(self, identity: tuple[int, int]) -> None:
        """Watch the folder until it is gone or replaced, or ``stop`` is set."""
        polling = polling_reason(self.root)
        while not self.stop.is_set():
            changes: Iterator[set[tuple[watchfiles.Change, str]]] | None = None
            started = False
            try:
                changes = watchfiles.watch(
                    self.root, watch_filter=self._wanted, debounce=400, step=50,
                    rust_timeout=int(self.timing.tick * 1000), yield_on_timeout=True,
                    stop_event=self.stop, raise_interrupt=False,
                    force_polling=polling is not None,
                    poll_delay_ms=int(self.timing.poll_interval * 1000),
                    ignore_permission_denied=True,
                )
                for batch in changes:
                    if not started:
                        started = True
                        how = ("file notifications" if polling is None else
                               f"polling every {self.timing.poll_interval:g} s: {polling}")
                        logger.info("watching %s for changes (%s)", self.root, how)
                        self._mode = ("watching", None) if polling is None else ("polling",
                                                                                  polling)
                        if not self._failures:
                            self.status.set(*self._mode)
                    now = time.monotonic()
                    for _change, path in batch:
                        self._pending.add(path, now)
                    self.status.update(pending=bool(self._pending))
                    if self._folder_identity() != identity:
                        return
                    if self._due(now):
                        self._build()
                return
            except (OSError, RuntimeError) as e:  # the kernel refuses (inotify limits), ...
                if self._folder_identity() != identity:
                    return
                if polling is None:
                    polling = f"file notifications are unavailable ({e})"
                    logger.warning("%s: polling instead", polling)
                else:
                    logger.error("cannot watch %s: %s; trying again in %g s", self.root, e,
                                 self.timing.max_retry)
                    self.stop.wait(self.timing.max_retry)
            finally:
                if isinstance(changes, Generator):
                    changes.close()

    def _wanted(self, change: watchfiles.Change | None, path: str) -> bool:
        """watchfiles' filter: whether a change may change the index (also: whether a build
        reads the path, ``change`` None)."""
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            return True
        if any(relative.is_relative_to(own) for own in self._excluded):
            return False  # the index being written inside the docs folder
        return not ignored(relative)

    def _own_folders(self) -> list[Path]:
        """The index and cache folders, where they lie inside the docs folder."""
        own = []
        for folder in (self.config.index_dir, self.config.cache_dir):
            try:
                own.append(Path(folder).resolve().relative_to(self.root.resolve()))
            except ValueError:
                continue
        return own

    def _folder_identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.root)
        except OSError:
            return None
        return (status.st_dev, status.st_ino) if stat.S_ISDIR(status.st_mode) else None

    def _wait_for_folder(self) -> tuple[int, int] | None:
        """Wait for a missing docs folder to appear; None if stopped first."""
        logger.warning("docs folder %s is missing; %s; waiting for the folder to come back",
                       self.root, self._live_state())
        self.status.set("folder missing", f"waiting for {self.root} to come back")
        while not self.stop.wait(self.timing.poll_interval):
            identity = self._folder_identity()
            if identity is not None:
                logger.warning("docs folder %s is back", self.root)
                self._pending.folder_returned("folder back", time.monotonic())
                self.status.update(pending=True)
                return identity
        return None

    # ------------------------------------------------------------------ building

    def _due(self, now: float) -> bool:
        """Whether the pending changes have settled, so a build may start."""
        pending, timing = self._pending, self.timing
        if not pending or now < self._retry_at:
            return False
        if self._empty_since is not None and pending.last <= self._empty_since:
            return False  # nothing happened since the folder was found empty
        if not pending.paths and not pending.restored:
            return True
        # A returned folder is not built on the trickle rule (max_delay): a partial index of
        # it would drop documents the live generation still serves.
        longest = timing.max_unsettled if pending.restored else timing.max_delay
        if now - pending.last < timing.quiet and now - pending.first < longest:
            return False
        # The paths changed by the time of the last look must have held still since then;
        # in a steady trickle, paths whose first event came after it are read as they are.
        # A returned folder: every file in it, and no file added.
        if pending.restored:
            again: dict[str, tuple[int, int] | None] | None = self._files()
        elif self._snapshot is not None:
            again = {path: _size_and_mtime(path) for path in self._snapshot}
        else:
            again = None
        if again is not None and again == self._snapshot:
            settled = now - self._snapshot_at >= timing.settle
        else:
            self._snapshot = again if pending.restored else {
                path: _size_and_mtime(path) for path in pending.paths}
            self._snapshot_at = now
            settled = timing.settle <= 0
        if settled:
            return True
        if now - pending.first < timing.max_unsettled:
            return False
        logger.warning("building although files are still changing after %g s",
                       timing.max_unsettled)
        return True

    def _files(self) -> dict[str, tuple[int, int] | None]:
        """Size and mtime of every file in the docs folder a build would read."""
        found: dict[str, tuple[int, int] | None] = {}
        for folder, subfolders, names in os.walk(self.root):
            here = Path(folder)
            subfolders[:] = [name for name in subfolders if self._wanted(None, str(here / name))]
            for name in names:
                if self._wanted(None, str(here / name)):
                    found[str(here / name)] = _size_and_mtime(str(here / name))
        return found

    def _has_files(self) -> bool:
        """Whether the docs folder holds any file a build would read (stops at the first)."""
        for folder, subfolders, names in os.walk(self.root):
            here = Path(folder)
            if any(self._wanted(None, str(here / name)) for name in names):
                return True
            subfolders[:] = [name for name in subfolders if self._wanted(None, str(here / name))]
        return False

    def _build(self) -> None:
        if not self._has_files():
            self._hold_while_empty()
            return
        self._empty_since = None
        pending, self._pending = self._pending, _Pending()
        self._snapshot = None
        self.building = True
        self.status.update(building=True, pending=False)
        started = time.monotonic()
        try:
            first = self.builds == 0 and pending.reason == "start"
            report = build_index(self.config, full=self._full and first,
                                 progress=self._progress and first,
                                 embedder=self._embedder, ray_address=self._ray_address)
        except SearchError as e:
            if self._folder_identity() is None:  # gone meanwhile: run() waits for it
                pending.reason = pending.reason or "folder back"
                self._pending = pending
                return
            self._failed(pending, str(e), started)
            return
        except Exception as e:  # a bug in one build must not end the watcher
            logger.exception("build failed unexpectedly")
            self._failed(pending, f"{type(e).__name__}: {e}", started)
            return
        finally:
            self.building = False
            self.status.update(building=False, pending=bool(self._pending))
        self._failures, self._retry_at = 0, 0.0
        self.builds += 1
        # Before the status reports the build: a service loads the generation here, and its
        # status must never name a generation it is not serving yet.
        if self._on_build:
            self._on_build(report)
        self.status.update(last_build=BuildOutcome(
            datetime.now(UTC), report.seconds, generation=report.generation,
            added=len(report.added), changed=len(report.changed), removed=len(report.removed),
            skipped=tuple(report.skipped)))
        self.status.set(*self._mode)
        logger.info("%s", describe(report, pending.events))

    def _hold_while_empty(self) -> None:
        """No file to index: an empty mount point, a replacement folder not filled yet, or
        every document deleted. Publishing that would empty the index, so the live generation
        stays until a change brings files (to empty an index, delete the index folder)."""
        self._empty_since = time.monotonic()
        self._snapshot = None
        if self.status.as_json()["state"] == "folder empty":
            return
        logger.warning("docs folder %s holds no files; %s; waiting for files to appear",
                       self.root, self._live_state())
        self.status.set("folder empty", f"no files in {self.root}: waiting for some; the "
                                        "live generation stays")

    def _failed(self, pending: _Pending, message: str, started: float) -> None:
        """Keep the changes for a retry after a delay that doubles with each failure."""
        self._failures += 1
        delay = min(self.timing.first_retry * 2 ** (self._failures - 1), self.timing.max_retry)
        self._retry_at = time.monotonic() + delay
        pending.reason = pending.reason or "retry"
        self._pending = pending
        self.status.update(last_build=BuildOutcome(
            datetime.now(UTC), time.monotonic() - started, error=message))
        self.status.set("retrying", f"build failed ({self._failures} in a row): {message}; "
                                    f"trying again in {delay:g} s")
        logger.error("build failed (%d in a row): %s; %s; trying again in %g s",
                     self._failures, message, self._live_state(), delay)

    def _live_state(self) -> str:
        try:
            live = self.folder.current_or_none()
        except SearchError:
            live = None
        return f"generation {live.name} stays live" if live else "no generation is live yet"

    @contextmanager
    def _watch_lock(self) -> Iterator[None]:
        """Hold the index folder's watch lock, waiting while another watcher holds it (or
        until ``stop`` is set: then yield without it)."""
        path = self.folder.root / WATCH_LOCK
        try:
            self.folder.root.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise BuildError(f"cannot write to the index folder {self.folder.root}: "
                             f"{e.strerror or e}") from e
        with handle:
            said = False
            while not self.stop.is_set():
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not said:
                        handle.seek(0)
                        holder = handle.read().strip() or "?"
                        logger.warning("another watcher (pid %s) is watching %s: waiting until "
                                       "it stops", holder, self.folder.root)
                        self.status.set("waiting", f"another watcher (pid {holder}) is "
                                                   f"watching {self.folder.root}")
                        said = True
                    self.stop.wait(self.timing.poll_interval)
                    continue
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                break
            yield


def describe(report: BuildReport, events: int) -> str:
    """One log line for a build: what changed and what was published."""
    if report.generation is None:
        return (f"up to date after {events} file event(s): nothing to publish "
                f"({report.seconds:.1f} s)")
    counts = [f"{len(report.added)} added", f"{len(report.changed)} changed",
              f"{len(report.removed)} removed"]
    if report.skipped:
        counts.append(f"{len(report.skipped)} skipped")
    why = ""
    if report.full_reason:
        why = f" (full rebuild: {report.full_reason})"
    elif report.rechunk_reason:
        why = f" (every document split again: {report.rechunk_reason})"
    return (f"indexed changes: {', '.join(counts)}; {report.embedded} passages embedded; "
            f"published {report.generation} in {report.seconds:.1f} s{why}")


def _size_and_mtime(path: str) -> tuple[int, int] | None:
    """A file's size and mtime; None for what is gone, (0, 0) for a folder (whose mtime moves
    with every file made in it: that is no file being written)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(status.st_mode):
        return 0, 0
    return status.st_size, status.st_mtime_ns
