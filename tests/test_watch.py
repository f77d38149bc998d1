"""rebuild-index --watch as a user runs it: a real subprocess watching real files, the real
model; each test stops the processes it starts (SIGTERM, then waits for exit 0).

The watcher logs one line per build ("indexed changes: 1 added, 0 changed, 0 removed; 1
passages embedded; published G in 0.1 s"); the tests count those lines and search the newest
generation for the text they wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

import pytest
import watchfiles
from watchfiles import Change

from index import BuildReport, Config, Embedder, IndexFolder, Searcher, SearchRequest
from index.store import STORE_FILE
from index.watch import FolderWatcher, Timing, describe, filesystem_type, ignored, polling_reason
from tests.processes import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rebuild_index.py"
TIMEOUT = 60.0  # seconds to wait for a build; one takes well under one here

BUILT = re.compile(
    r"indexed changes: (\d+) added, (\d+) changed, (\d+) removed(?:, \d+ skipped)?; "
    r"(\d+) passages embedded; published (\S+) in"
)
UP_TO_DATE = re.compile(r"up to date after \d+ file event")
FAILED = re.compile(r"build failed \((\d+) in a row\): (.*); trying again in ([\d.]+) s")


class Watcher:
    """A `rebuild-index --watch` process and its log (stderr, in a file)."""

    def __init__(self, docs: Path, index: Path, env: dict[str, str], log: Path) -> None:
        self.index = index
        self.log = log
        self.stdout = log.with_suffix(".out")
        with open(log, "wb") as err, open(self.stdout, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--watch", "--docs", str(docs),
                 "--index-dir", str(index)],
                cwd=ROOT, env=env, stdout=out, stderr=err, preexec_fn=die_with_parent,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def builds(self) -> list[re.Match[str]]:
        return list(BUILT.finditer(self.text()))

    def wait_for(self, pattern: re.Pattern[str] | str, count: int = 1,
                 timeout: float = TIMEOUT) -> list[re.Match[str]]:
        """Wait until ``pattern`` occurs ``count`` times in the log; its matches."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            matches = list(pattern.finditer(self.text()))
            if len(matches) >= count:
                return matches
            assert self.process.poll() is None, f"watcher exited\n{self.text()}"
            assert time.monotonic() < deadline, (
                f"no {count} x {pattern.pattern!r} in {timeout} s\n{self.text()}")
            time.sleep(0.05)

    def wait_for_build(self, number: int) -> re.Match[str]:
        """The ``number``-th build (1 is the first, at start) once it is logged."""
        return self.wait_for(BUILT, number)[number - 1]

    def live(self) -> str:
        return IndexFolder(self.index).current().name

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the watcher and wait for its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


StartWatcher = Callable[..., Watcher]


@pytest.fixture
def start(tmp_path: Path, exported_env: dict[str, str]) -> Iterator[StartWatcher]:
    """Starts watchers; every one still running at the end is stopped."""
    started: list[Watcher] = []

    def start(docs: Path, index: Path | None = None, **env: str) -> Watcher:
        log = tmp_path / f"watch-{len(started)}.log"
        watcher = Watcher(docs, index or tmp_path / "index", {**exported_env, **env}, log)
        started.append(watcher)
        return watcher

    try:
        yield start
    finally:
        for watcher in started:
            watcher.stop()


def running(start: StartWatcher, docs: Path) -> Watcher:
    """A watcher on ``docs`` once its first build is published."""
    watcher: Watcher = start(docs)
    watcher.wait_for_build(1)
    return watcher


def settled(watcher: Watcher, expected: int | None, seconds: float = 2) -> list[re.Match[str]]:
    """The builds once ``seconds`` passed without a new one; ``expected`` of them, if given."""
    time.sleep(seconds)
    builds = watcher.builds()
    assert expected is None or len(builds) == expected, watcher.text()
    return builds


def wait_for_added(watcher: Watcher, total: int) -> None:
    """Wait until the builds after the first have added ``total`` documents."""
    deadline = time.monotonic() + TIMEOUT
    while sum(counts(b)[0] for b in watcher.builds()[1:]) < total:
        assert time.monotonic() < deadline, watcher.text()
        time.sleep(0.1)


def write(path: Path, title: str, *paragraphs: str) -> Path:
    """A small text document whose title is its first line (so a rename keeps its content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(paragraphs or [f"This short note about {title.lower()} has a paragraph "
                                      "long enough to be a passage of its own."])
    path.write_text(f"{title}\n\n{body}\n")
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """Three small documents."""
    folder = tmp_path / "docs"
    write(folder / "garden.txt", "Garden apples",
          "Apples and pears grow in the garden behind the old stone wall every autumn.")
    write(folder / "harbour.txt", "Harbour boats",
          "Fishing boats leave the harbour before dawn and come back with the tide.")
    write(folder / "notes" / "mountain.txt", "Mountain paths",
          "The mountain path climbs through pine forest to a lake below the glacier.")
    return folder


def sources(index: Path, embedder: Embedder, query: str) -> list[str]:
    """The documents of the live generation's passages holding the query's words."""
    searcher = Searcher.open(IndexFolder(index).current(), embedder)
    try:
        hits = searcher.search(SearchRequest(query, k=20, mode="lexical")).hits
    finally:
        searcher.close()
    return sorted({hit.document_source for hit in hits})


def passage_texts(index: Path, embedder: Embedder, query: str) -> list[str]:
    searcher = Searcher.open(IndexFolder(index).current(), embedder)
    try:
        return [h.passage.text for h in searcher.search(SearchRequest(query, k=50,
                                                                      mode="lexical")).hits]
    finally:
        searcher.close()


def counts(build: re.Match[str]) -> tuple[int, int, int, int]:
    """(added, changed, removed, embedded) of a build's log line."""
    return int(build[1]), int(build[2]), int(build[3]), int(build[4])


def stored_documents(generation: Path) -> dict[str, str]:
    """Source -> text of every document in a generation."""
    uri = f"file:{generation / STORE_FILE}?mode=ro&immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return dict(db.execute("SELECT source, text FROM documents"))


class InThread:
    """A FolderWatcher in a thread, with its own timing; each generation it publishes is read
    as it is published (``published``: source -> text), before any later one replaces it."""

    def __init__(self, config: Config, embedder: Embedder, timing: Timing) -> None:
        self.config = config
        self.reports: list[BuildReport] = []
        self.published: list[dict[str, str]] = []
        self.watcher = FolderWatcher(config, embedder=embedder, timing=timing,
                                     on_build=self._built)
        self.thread = threading.Thread(target=self.watcher.run, name="watch-test")
        self.thread.start()

    def _built(self, report: BuildReport) -> None:
        if report.generation is not None:
            self.published.append(stored_documents(IndexFolder(self.config.index_dir).current()))
        self.reports.append(report)

    @property
    def state(self) -> str:
        return str(self.watcher.status.as_json()["state"])

    def wait(self, check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.thread.is_alive(), f"the watcher stopped before {what}"
            assert time.monotonic() < deadline, f"not {what} in {timeout} s"
            time.sleep(0.05)

    def wait_for_builds(self, count: int) -> None:
        self.wait(lambda: len(self.reports) >= count, f"{count} builds")

    def stop(self) -> None:
        self.watcher.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()


StartInThread = Callable[[Path, Timing], InThread]


@pytest.fixture
def in_thread(tmp_path: Path, model_cache: Path,
              embedder: Embedder) -> Iterator[StartInThread]:
    """Starts watchers in threads on an index in tmp_path; each is stopped at the end."""
    started: list[InThread] = []

    def start(docs: Path, timing: Timing) -> InThread:
        config = Config(docs_dir=docs, index_dir=tmp_path / "index", cache_dir=model_cache)
        started.append(InThread(config, embedder, timing))
        return started[-1]

    try:
        yield start
    finally:
        for watcher in started:
            watcher.stop()


# ---------------------------------------------------------------- what changes are reflected


@pytest.mark.slow
def test_an_edit_becomes_searchable_in_seconds(start: StartWatcher, docs: Path,
                                               embedder: Embedder) -> None:
    watcher = start(docs)
    first = watcher.wait_for_build(1)
    assert counts(first) == (3, 0, 0, 3)
    assert "watching" in watcher.text() and "(file notifications)" in watcher.text()
    assert "Indexed" in watcher.stdout.read_text()  # the first build's summary on stdout

    saved = time.monotonic()
    write(docs / "garden.txt", "Garden apples",
          "Apples and quinces grow in the garden behind the old stone wall every autumn.")
    edit = watcher.wait_for_build(2)
    latency = time.monotonic() - saved
    assert counts(edit) == (0, 1, 0, 1)
    assert sources(watcher.index, embedder, "quinces") == ["garden.txt"]
    assert latency < 5, latency
    assert watcher.stop() == 0
    assert "stopped watching" in watcher.text()


@pytest.mark.slow
def test_a_created_file_is_indexed_and_a_deleted_one_disappears(
    start: StartWatcher, docs: Path, embedder: Embedder
) -> None:
    watcher = running(start, docs)
    write(docs / "notes" / "deep" / "comet.txt", "Comet watch",
          "A bright comet crossed the northern sky for three nights in March.")
    assert counts(watcher.wait_for_build(2)) == (1, 0, 0, 1)
    assert sources(watcher.index, embedder, "comet") == ["notes/deep/comet.txt"]

    (docs / "harbour.txt").unlink()
    assert counts(watcher.wait_for_build(3)) == (0, 0, 1, 0)
    assert sources(watcher.index, embedder, "harbour boats") == []
    assert sources(watcher.index, embedder, "comet") == ["notes/deep/comet.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_a_rename_and_a_move_reuse_the_vectors(start: StartWatcher, docs: Path,
                                               embedder: Embedder) -> None:
    watcher = running(start, docs)
    (docs / "garden.txt").rename(docs / "orchard.txt")
    assert counts(watcher.wait_for_build(2)) == (1, 0, 1, 0)  # nothing embedded
    assert sources(watcher.index, embedder, "pears") == ["orchard.txt"]

    (docs / "archive").mkdir()
    (docs / "notes" / "mountain.txt").rename(docs / "archive" / "mountain.txt")
    assert counts(watcher.wait_for_build(3)) == (1, 0, 1, 0)
    assert sources(watcher.index, embedder, "glacier") == ["archive/mountain.txt"]
    assert watcher.stop() == 0


# ---------------------------------------------------------------- how events become builds


@pytest.mark.slow
def test_a_burst_of_200_files_makes_few_builds(start: StartWatcher, docs: Path,
                                               embedder: Embedder) -> None:
    watcher = running(start, docs)
    burst = docs / "burst"
    for n in range(200):
        write(burst / f"note-{n:03}.txt", f"Burst note {n}",
              f"Note number {n} of the burst mentions the word zeppelin{n} once.")
    wait_for_added(watcher, 200)
    builds = settled(watcher, None)[1:]
    assert 1 <= len(builds) <= 3, watcher.text()
    assert sum(counts(b)[0] for b in builds) == 200
    assert sources(watcher.index, embedder, "zeppelin137") == ["burst/note-137.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_a_checkout_of_200_mixed_changes_makes_few_builds_and_matches_the_folder(
    in_thread: StartInThread, docs: Path
) -> None:
    for n in range(150):
        write(docs / "repo" / f"file-{n:03}.txt", f"Repository file {n}",
              f"File {n} of the repository holds the marker word osprey{n} once.")
    watcher = in_thread(docs, Timing())  # the defaults, as rebuild-index --watch runs
    watcher.wait_for_builds(1)
    files = sorted((docs / "repo").glob("*.txt"))
    random.Random(16).shuffle(files)
    edited, deleted, renamed = files[:50], files[50:100], files[100:150]
    # As a git checkout does it: 200 changes at once, in no particular order.
    for n, path in enumerate(edited):
        write(path, f"Repository file {path.stem}", f"Edited on the branch: plover{n} now.")
    for path in deleted:
        path.unlink()
    (docs / "repo" / "moved").mkdir()
    for path in renamed:
        path.rename(docs / "repo" / "moved" / f"renamed-{path.name}")
    for n in range(50):
        write(docs / "repo" / "new" / f"new-{n:02}.txt", f"New file {n}",
              f"A file new on the branch holds the word curlew{n}.")

    def folder() -> dict[str, str]:
        return {str(path.relative_to(docs)): path.read_text()
                for path in docs.rglob("*.txt")}

    expected = folder()
    assert len(expected) == 3 + 150 - 50 + 50

    def matches(documents: dict[str, str]) -> bool:
        return set(documents) == set(expected) and all(
            " ".join(text.split()[-4:]) in " ".join(documents[source].split())
            for source, text in expected.items())

    watcher.wait(lambda: watcher.published and matches(watcher.published[-1]),
                 "the index matching the folder")
    time.sleep(2)
    builds = watcher.reports[1:]
    assert 1 <= len(builds) <= 3, [(len(r.added), len(r.changed), len(r.removed))
                                    for r in builds]
    assert matches(stored_documents(IndexFolder(watcher.config.index_dir).current()))
    assert sum(len(r.changed) for r in builds) == 50
    assert sum(r.embedded for r in builds) == 100  # edited and new; renames re-embed nothing


@pytest.mark.slow
def test_a_steady_trickle_still_builds_while_it_lasts(start: StartWatcher, docs: Path,
                                                      embedder: Embedder) -> None:
    watcher = running(start, docs)
    for n in range(32):  # a file every 0.25 s for 8 s: never half a second without an event
        write(docs / "trickle" / f"t{n:02}.txt", f"Trickle note {n}",
              f"Trickle note {n} names the marker word kestrel{n} once.")
        time.sleep(0.25)
    during = len(watcher.builds()) - 1
    assert during >= 1, watcher.text()  # at most 5 s after the first change
    wait_for_added(watcher, 32)
    assert sources(watcher.index, embedder, "kestrel31") == ["trickle/t31.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_temp_files_start_no_build_and_an_editor_save_makes_one(
    start: StartWatcher, docs: Path, embedder: Embedder
) -> None:
    watcher = running(start, docs)
    for name in ("garden.txt.swp", ".garden.txt.swx", "garden.txt~", ".#garden.txt",
                 ".DS_Store", "film.mkv.part", "paper.pdf.crdownload", "upload.tmp",
                 "notes/.hidden.txt", ".git/index"):
        path = docs / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("scratch")
    time.sleep(2)
    assert len(watcher.builds()) == 1 and not UP_TO_DATE.search(watcher.text()), watcher.text()

    # A save as editors make it: the new text into a temp file, renamed over the document.
    temporary = docs / "harbour.txt.tmp"
    write(temporary, "Harbour boats",
          "Fishing boats and a lighthouse keeper wait in the harbour for the tide.")
    os.replace(temporary, docs / "harbour.txt")
    assert counts(watcher.wait_for_build(2)) == (0, 1, 0, 1)
    settled(watcher, 2)
    assert sources(watcher.index, embedder, "lighthouse") == ["harbour.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_a_file_written_slowly_is_indexed_whole(in_thread: StartInThread, docs: Path) -> None:
    # The writer appends every 0.2 s for 3 s: never a quiet time (0.3 s) and longer than
    # max_delay (1 s), so only the check that the file's size and mtime hold (0.6 s) keeps
    # the trickle rule from building the file half-written.
    watcher = in_thread(docs, Timing(quiet=0.3, max_delay=1.0, settle=0.6, poll_interval=0.1,
                                     tick=0.1))
    watcher.wait_for_builds(1)
    chunks = [f"Chunk {n} of the slow report covers expedition day {n} in detail, with "
              f"its weather and its marker word walrus{n}.\n\n" for n in range(15)]
    with open(docs / "slow.txt", "w") as f:
        f.write("Slow expedition report\n\n")
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            time.sleep(0.2)
    watcher.wait(lambda: any("slow.txt" in p for p in watcher.published), "slow.txt indexed")
    time.sleep(1.5)
    holding = [p["slow.txt"] for p in watcher.published if "slow.txt" in p]
    for text in holding:  # no generation ever held part of it
        assert [n for n in range(15) if f"walrus{n}" not in text] == [], text
    assert len(watcher.published) == 2, [r.generation for r in watcher.reports]


@pytest.mark.slow
def test_polling_where_notifications_do_not_serve(start: StartWatcher, docs: Path,
                                                  embedder: Embedder) -> None:
    watcher = start(docs, WATCHFILES_FORCE_POLLING="1")
    watcher.wait_for_build(1)
    assert "(polling every 0.5 s: WATCHFILES_FORCE_POLLING is set)" in watcher.text()
    write(docs / "notes" / "owl.txt", "Owl nights", "An owl hunts over the meadow at night.")
    assert counts(watcher.wait_for_build(2)) == (1, 0, 0, 1)
    assert sources(watcher.index, embedder, "owl") == ["notes/owl.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_refused_notifications_fall_back_to_polling_in_a_thread(
    docs: Path, tmp_path: Path, model_cache: Path, embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """The watcher as a library runs it beside other work: in a thread, stopped by an event.
    The kernel refusing a watch (inotify's limit) makes it poll, and say so."""
    real_watch = watchfiles.watch

    def refusing(*args: Any, force_polling: bool, **kwargs: Any) -> Any:
        if not force_polling:
            raise OSError(28, "OS file watch limit reached")
        return real_watch(*args, force_polling=force_polling, **kwargs)

    monkeypatch.setattr(watchfiles, "watch", refusing)
    monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    caplog.set_level(logging.INFO)
    reports: list[BuildReport] = []
    reported_before: list[str | None] = []  # the status's last build as on_build is called

    def built(report: BuildReport) -> None:
        last = watcher.status.last_build
        reported_before.append(last.generation if last else None)
        reports.append(report)

    config = Config(docs_dir=docs, index_dir=tmp_path / "index", cache_dir=model_cache)
    watcher = FolderWatcher(config, embedder=embedder, on_build=built,
                            timing=Timing(quiet=0.2, settle=0.1, poll_interval=0.2))
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(reports) < 1:
            assert thread.is_alive() and time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        write(docs / "heron.txt", "Heron", "A grey heron waits in the reeds by the river.")
        while len(reports) < 2:
            assert thread.is_alive() and time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    finally:
        watcher.stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert "file notifications are unavailable (" in caplog.text
    assert "polling every 0.2 s: file notifications are unavailable" in caplog.text
    assert [len(r.added) for r in reports] == [3, 1] and reports[1].embedded == 1
    # A service loads each generation in on_build: the status names it only afterwards.
    assert reported_before == [None, reports[0].generation]
    assert sources(config.index_dir, embedder, "heron") == ["heron.txt"]


# ---------------------------------------------------------------- what goes wrong


@pytest.mark.slow
def test_the_folder_vanishing_keeps_the_live_generation_until_it_is_back(
    start: StartWatcher, docs: Path, embedder: Embedder
) -> None:
    watcher = start(docs)
    live = watcher.wait_for_build(1)[5]
    away = docs.with_name("docs-unmounted")
    docs.rename(away)
    watcher.wait_for("docs folder .* is missing; generation .* stays live")
    time.sleep(1)
    assert watcher.live() == live
    assert sources(watcher.index, embedder, "pears") == ["garden.txt"]
    assert len(watcher.builds()) == 1 and "build failed" not in watcher.text()

    away.rename(docs)
    watcher.wait_for("docs folder .* is back")
    watcher.wait_for(UP_TO_DATE)  # the folder as it was: nothing to publish
    write(docs / "garden.txt", "Garden apples", "Apricots ripen in the garden in July.")
    assert counts(watcher.wait_for_build(2)) == (0, 1, 0, 1)
    assert sources(watcher.index, embedder, "apricots") == ["garden.txt"]
    assert watcher.stop() == 0


@pytest.mark.slow
def test_an_empty_folder_in_place_of_the_docs_keeps_the_index_until_they_are_back(
    in_thread: StartInThread, docs: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    watcher = in_thread(docs, Timing(quiet=0.3, settle=0.2, poll_interval=0.1, tick=0.1))
    watcher.wait_for_builds(1)
    live = IndexFolder(watcher.config.index_dir).current().name
    # An unmounted share leaves its empty mount point: another folder, with nothing in it.
    away = docs.with_name("docs-unmounted")
    docs.rename(away)
    docs.mkdir()
    watcher.wait(lambda: watcher.state == "folder empty", "folder empty")
    assert "holds no files" in caplog.text and f"generation {live} stays live" in caplog.text
    assert "no files in" in str(watcher.watcher.status.as_json()["detail"])
    time.sleep(1.5)  # it stays so: nothing built, nothing published, no failure retried
    assert watcher.state == "folder empty" and len(watcher.reports) == 1
    assert IndexFolder(watcher.config.index_dir).current().name == live
    assert sources(watcher.config.index_dir, embedder, "pears") == ["garden.txt"]
    assert "build failed" not in caplog.text

    docs.rmdir()  # mounted again: the real folder in its place
    away.rename(docs)
    watcher.wait(lambda: watcher.state == "watching" and len(watcher.reports) == 2,
                 "watching again")
    assert watcher.reports[1].generation is None  # the folder as it was: nothing to publish
    assert all(published for published in watcher.published)
    write(docs / "garden.txt", "Garden apples", "Apricots ripen in the garden in July.")
    watcher.wait_for_builds(3)
    assert sources(watcher.config.index_dir, embedder, "apricots") == ["garden.txt"]


@pytest.mark.slow
def test_a_folder_restored_file_by_file_goes_live_whole(in_thread: StartInThread, docs: Path,
                                                        embedder: Embedder) -> None:
    for n in range(7):
        write(docs / "more" / f"note-{n}.txt", f"Note {n}",
              f"Note {n} of the restored folder names the word gannet{n} once.")
    # max_delay (1 s) shorter than the restore (2.5 s): a returned folder is not built on the
    # trickle rule, since a build of part of it would drop the rest from the index.
    watcher = in_thread(docs, Timing(quiet=0.5, max_delay=1.0, settle=0.3, poll_interval=0.1,
                                     tick=0.1))
    watcher.wait_for_builds(1)
    assert len(watcher.published[0]) == 10
    backup = docs.with_name("docs-backup")
    docs.rename(backup)
    watcher.wait(lambda: watcher.state == "folder missing", "folder missing")
    docs.mkdir()
    for path in sorted(backup.rglob("*.txt")):  # a slow copy back, a file every 0.25 s
        target = docs / path.relative_to(backup)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        time.sleep(0.25)
    watcher.wait(lambda: len(watcher.reports) >= 2, "built after the restore")
    time.sleep(1.5)
    assert [len(published) for published in watcher.published] == [10], [
        (r.generation, len(r.added), len(r.removed)) for r in watcher.reports]
    assert watcher.reports[-1].generation is None  # whole again: as it was
    assert sources(watcher.config.index_dir, embedder, "gannet6") == ["more/note-6.txt"]


@pytest.mark.slow
def test_a_failed_build_keeps_the_live_generation_and_is_retried(
    start: StartWatcher, docs: Path, embedder: Embedder
) -> None:
    watcher = start(docs)
    live = watcher.wait_for_build(1)[5]
    # Nothing usable left: the build fails, and the live generation keeps serving.
    for path in (docs / "garden.txt", docs / "harbour.txt", docs / "notes" / "mountain.txt"):
        path.unlink()
    (docs / "empty.txt").write_text("")
    failed = watcher.wait_for(FAILED)[0]
    assert failed[1] == "1" and "no usable documents" in failed[2]
    assert f"generation {live} stays live" in failed[2]
    assert watcher.live() == live
    assert sources(watcher.index, embedder, "pears") == ["garden.txt"]
    watcher.wait_for(FAILED, 2)  # tried again after its delay, which doubles
    assert [m[3] for m in watcher.wait_for(FAILED, 2)[:2]] == ["1", "2"]

    write(docs / "lake.txt", "Lake swim", "Swimmers cross the cold lake at sunrise in June.")
    assert counts(watcher.wait_for_build(2)) == (1, 0, 3, 1)
    assert sources(watcher.index, embedder, "swimmers") == ["lake.txt"]
    assert sources(watcher.index, embedder, "pears") == []
    assert watcher.stop() == 0


@pytest.mark.slow
def test_a_second_watcher_waits_for_the_first(start: StartWatcher, docs: Path,
                                              tmp_path: Path) -> None:
    first = start(docs)
    first.wait_for_build(1)
    second = start(docs, tmp_path / "index")
    second.wait_for(rf"another watcher \(pid {first.process.pid}\) is watching .*: waiting "
                    "until it stops")
    time.sleep(1)
    assert not second.builds() and "watching " + str(docs) not in second.text()

    assert first.stop(signal.SIGINT) == 0
    second.wait_for(UP_TO_DATE)  # took over: its first build finds nothing to do
    write(docs / "garden.txt", "Garden apples", "Plums fall on the garden path in August.")
    assert counts(second.wait_for_build(1)) == (0, 1, 0, 1)
    assert second.stop() == 0
    assert not list((tmp_path / "index" / "generations").glob(".building-*"))


@pytest.mark.slow
def test_sigterm_during_a_build_lets_it_publish_then_exits(start: StartWatcher,
                                                           docs: Path) -> None:
    watcher = running(start, docs)
    for n in range(60):
        write(docs / "more" / f"m{n}.txt", f"More notes {n}",
              *[f"Paragraph {p} of note {n} is about the number {n * 100 + p} and nothing "
                "else of interest." for p in range(5)])
    watcher.wait_for("loaded 63 documents")  # the build has started
    assert watcher.stop() == 0
    assert len(watcher.builds()) == 2 and "stopping once the build" in watcher.text()
    assert watcher.live() == watcher.builds()[1][5]
    assert not list((watcher.index / "generations").glob(".building-*"))


@pytest.mark.slow
def test_a_second_signal_aborts_the_build_and_keeps_the_live_generation(
    start: StartWatcher, docs: Path
) -> None:
    watcher = running(start, docs)
    live = watcher.live()
    for n in range(120):  # some 600 passages: seconds of embedding
        write(docs / "more" / f"m{n}.txt", f"More notes {n}",
              *[f"Paragraph {p} of note {n} is about the number {n * 100 + p} and nothing "
                "else of interest." for p in range(5)])
    watcher.wait_for("loaded 123 documents")
    watcher.process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    assert watcher.stop() == 0
    assert "SIGTERM: build aborted; the live generation stays as it was" in watcher.text()
    assert "Traceback" not in watcher.text()
    assert len(watcher.builds()) == 1 and watcher.live() == live
    assert not list((watcher.index / "generations").glob(".building-*"))


# ---------------------------------------------------------------- pieces, without a process


def test_ignored_names() -> None:
    for name in ("a.txt.swp", "a.swx", "a.txt~", ".#a.txt", "#a.txt#", ".DS_Store",
                 "big.pdf.part", "big.pdf.crdownload", "x.tmp", "~$report.docx", "4913",
                 ".git/HEAD", "sub/.hidden/a.txt", ".a.txt"):
        assert ignored(PurePath(name)), name
    for name in ("a.txt", "sub/a.md", "notes~old/a.txt", "tmp/a.txt", "a.tmp.txt"):
        assert not ignored(PurePath(name)), name


def test_network_file_systems_are_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /mnt/share rw shared:20 - nfs4 server:/export rw,vers=4.2\n"
        "41 22 0:51 / /mnt/my\\040docs rw - cifs //host/docs rw\n"
    )
    assert filesystem_type(Path("/home/a"), mountinfo) == "ext4"
    assert filesystem_type(Path("/mnt/share/docs"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/mnt/sharex"), mountinfo) == "ext4"
    assert filesystem_type(Path("/mnt/my docs/a"), mountinfo) == "cifs"
    assert filesystem_type(tmp_path, tmp_path / "missing") is None
    monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    assert polling_reason(tmp_path) is None  # a local disk here
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    assert "WATCHFILES_FORCE_POLLING" in (polling_reason(tmp_path) or "")


def test_the_index_inside_the_docs_folder_starts_no_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    watcher = FolderWatcher(Config(docs_dir=docs, index_dir=docs / "var" / "index",
                                   cache_dir=docs / "var" / "cache"))
    assert not watcher._wanted(Change.added, str(docs / "var" / "index" / "CURRENT"))
    assert not watcher._wanted(Change.modified, str(docs / "var" / "cache" / "onnx" / "m.onnx"))
    assert watcher._wanted(Change.modified, str(docs / "var" / "notes.txt"))
    assert watcher._wanted(Change.deleted, str(docs))


def test_the_readme_quotes_the_measured_save_to_searchable_latency() -> None:
    """The README's "Watching the folder" promises no more than docs/benchmarks.md measured."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Watching the folder", 1)[1].split("\n### ", 1)[0]
    row = next(line for line in (ROOT / "docs" / "benchmarks.md").read_text().splitlines()
               if line.startswith("| save-to-searchable"))
    measured_p95 = max(float(p) for p in re.findall(r"p95 \*\*([\d.]+) s\*\*", row))
    quoted = re.search(r"p95 ([\d.]+)-([\d.]+) s", section)
    assert quoted and float(quoted[2]) >= round(measured_p95, 1), section
    assert "about a second" not in readme
    # A separate watcher beside a service waits for the service's reload check too.
    assert "`reload_interval`" in section and "rebuild-index --watch` run separately" in section


def test_a_build_log_line_says_why_documents_were_split_again_or_all_reembedded() -> None:
    rechunked = BuildReport(generation="g1", changed=["a"], embedded=3, seconds=1.0,
                            rechunk_reason="chunking settings changed")
    assert describe(rechunked, 2) == (
        "indexed changes: 0 added, 1 changed, 0 removed; 3 passages embedded; published g1 "
        "in 1.0 s (every document split again: chunking settings changed)")
    full = dataclasses.replace(rechunked, full_reason="model changed (a -> b)")
    assert describe(full, 2).endswith("(full rebuild: model changed (a -> b))")
