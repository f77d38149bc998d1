"""The index folder: immutable generations, the CURRENT pointer, and atomic publishing.

    index_dir/
      CURRENT                    name of the live generation (replaced atomically)
      .lock                      held by the one rebuild allowed at a time
      generations/
        20261122T030102Z-3f9a1c/ manifest.json passages.sqlite vectors.npy vectors.faiss
        .building-…/             a build in progress; removed by the next rebuild if it died

A build writes a new folder beside the live one, fsyncs it, renames it into place and only
then replaces CURRENT, so a reader sees either the old generation or the new one, whole.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.checksum import file_sha256
from index.errors import BuildError, IndexMismatchError, IndexNotBuiltError

logger = logging.getLogger(__name__)

# 2: the full-text table holds index.lexical terms. 3: documents record type, size, modified.
FORMAT_VERSION = 3
MANIFEST_FILE = "manifest.json"
_CURRENT = "CURRENT"
_GENERATIONS = "generations"
_BUILDING_PREFIX = ".building-"
# What new_build_folder names generations: a plain name, so CURRENT cannot point elsewhere.
_GENERATION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")


class IndexFolder:
    """The generations under one index folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generations = root / _GENERATIONS

    def current(self) -> Path:
        """The live generation's folder.

        Raises:
            IndexNotBuiltError: nothing has been published here yet.
            IndexMismatchError: CURRENT holds something other than a generation's name.
        """
        try:
            name = (self.root / _CURRENT).read_text(errors="replace").strip()
        except FileNotFoundError as e:
            raise IndexNotBuiltError(f"no index in {self.root}: run rebuild-index first") from e
        except OSError as e:
            raise IndexMismatchError(f"cannot read {self.root / _CURRENT}: {e.strerror}") from e
        # A path ("../../other/generations/G") would have the service serve another folder.
        if not _GENERATION_NAME.fullmatch(name) or ".." in name:
            raise IndexMismatchError(
                f"{self.root / _CURRENT} holds {name[:200]!r}, which does not name a "
                f"generation in {self.generations}"
            )
        return self.generations / name

    def current_or_none(self) -> Path | None:
        try:
            return self.current()
        except IndexNotBuiltError:
            return None

    def published(self) -> list[Path]:
        """Published generations, oldest first (names sort by build time)."""
        if not self.generations.is_dir():
            return []
        return sorted(
            p for p in self.generations.iterdir()
            if p.is_dir() and not p.name.startswith(".")
        )

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the rebuild lock; the kernel drops it if the process dies.

        Raises:
            BuildError: another rebuild holds it.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # Appended to, not truncated, until held: it names the holder's process.
            handle = open(self.root / ".lock", "a+")  # noqa: SIM115 (closed below)
        except OSError as e:  # a read-only folder, or one owned by someone else
            raise BuildError(f"cannot write to the index folder {self.root}: "
                             f"{e.strerror or e}") from e
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise BuildError(f"another rebuild (pid {holder}) is running on "
                                 f"{self.root}") from e
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield

    def remove_leftovers(self) -> list[str]:
        """Delete folders of builds that died; call only while holding the lock."""
        removed = []
        if self.generations.is_dir():
            for path in self.generations.iterdir():
                if path.name.startswith(_BUILDING_PREFIX):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        if removed:
            logger.info("removed %d unfinished build(s): %s", len(removed), ", ".join(removed))
        return removed

    def new_build_folder(self) -> Path:
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ-") + secrets.token_hex(3)
        path = self.generations / (_BUILDING_PREFIX + name)
        try:
            self.generations.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except OSError as e:
            raise BuildError(f"cannot write to the index folder {self.root}: "
                             f"{e.strerror or e}") from e
        return path

    def publish(self, build_folder: Path, keep: int) -> Path:
        """Make a finished build folder the live generation, keeping ``keep`` generations."""
        for path in build_folder.iterdir():
            _fsync_file(path)
        _fsync_file(build_folder)
        final = self.generations / generation_name(build_folder)
        os.replace(build_folder, final)
        _fsync_file(self.generations)
        self._point_current_to(final.name)
        logger.info("published generation %s", final.name)
        self._prune(keep)
        return final

    def rollback(self) -> Path:
        """Make the newest generation older than the live one live again.

        Raises:
            IndexNotBuiltError: there is no older generation to go back to.
            BuildError: a rebuild is running (it would undo the rollback when it publishes).
        """
        self.current()  # no index: say so before creating anything
        with self.lock():
            live = self.current()
            older = [p for p in self.published() if p.name < live.name]
            if not older:
                raise IndexNotBuiltError(f"no generation older than {live.name} in {self.root}")
            self._point_current_to(older[-1].name)
            return older[-1]

    def _point_current_to(self, name: str) -> None:
        temporary = self.root / f".{_CURRENT}.{secrets.token_hex(4)}"
        with open(temporary, "w") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.root / _CURRENT)
        _fsync_file(self.root)

    def _prune(self, keep: int) -> None:
        live = self.current()
        others = [p for p in self.published() if p != live]
        for path in others[: max(0, len(others) - (keep - 1))]:
            shutil.rmtree(path, ignore_errors=True)
            logger.info("removed old generation %s", path.name)


def generation_name(build_folder: Path) -> str:
    """The name a build folder's generation is published under."""
    return build_folder.name.removeprefix(_BUILDING_PREFIX)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json with the size and sha256 of every other file in the folder."""
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(folder.iterdir())
        if p.name != MANIFEST_FILE
    }
    body = {"format_version": FORMAT_VERSION, **manifest, "files": files}
    (folder / MANIFEST_FILE).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: Path, verify: bool = True) -> dict[str, Any]:
    """A generation's manifest, after checking its files against it.

    Args:
        verify: also compare every file's sha256 (sizes are always checked).
    Raises:
        IndexMismatchError: missing or damaged files, or a format this code cannot read.
    """
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as e:
        raise IndexMismatchError(f"generation {folder.name}: unreadable manifest ({e})") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"generation {folder.name}: format {manifest.get('format_version')!r}, "
            f"this version reads {FORMAT_VERSION}; rebuild with --full"
        )
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != expected["bytes"]:
            raise IndexMismatchError(f"generation {folder.name}: {name} is missing or truncated")
        if verify and file_sha256(path) != expected["sha256"]:
            raise IndexMismatchError(f"generation {folder.name}: {name} fails its checksum")
    return manifest


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
