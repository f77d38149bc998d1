"""Faults: a rebuild killed just before it publishes, corrupt generations, a full disk.

In each case the live generation and the service's answers stay as they were, and the next
rebuild recovers. Everything is real: the rebuild script in a subprocess, the model, FAISS,
SQLite, the Flask app; the faults are real too (SIGKILL, damaged files, a full file system).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from index import Config, Embedder, IndexFolder, build_index
from index.generations import read_manifest, write_manifest
from service import create_app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rebuild_index.py"
QUERIES = ("ferry timetable in winter", "who repairs the harbour wall", "lighthouse keeper")
DOCUMENTS = {
    "ferry.txt": "Ferry timetable\n\nThe ferry leaves the north pier at ten every morning and "
                 "returns at six; in winter the storms often close the pier for days.\n",
    "wall.txt": "Harbour wall\n\nMasons from the town repair the harbour wall each spring, "
                "after the winter storms have loosened its stones.\n",
    "light.txt": "Lighthouse\n\nThe lighthouse keeper climbs the hundred steps at dusk to light "
                 "the lamp that guides the fishing boats home.\n",
}
NEW_DOCUMENT = "The fish market opens at dawn, when the boats come back with the night's catch.\n"


def script_env(model_cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCH_")}
    return {**env, "HF_HUB_OFFLINE": "1", "SEARCH_CACHE_DIR": str(model_cache), **extra}


def run_script(config: Config, model_cache: Path, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--docs", str(config.docs_dir),
         "--index-dir", str(config.index_dir)],
        cwd=ROOT, env=script_env(model_cache), capture_output=True, text=True, timeout=300,
        **popen,
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def answers(app: Flask) -> list[list[tuple[str, float]]]:
    """The service's ranked passages and scores for QUERIES."""
    client = app.test_client()
    ranked = []
    for query in QUERIES:
        response = client.get("/api/search", query_string={"q": query, "k": 5})
        assert response.status_code == 200, response.get_json()
        ranked.append([(h["passage_id"], h["score"]) for h in response.get_json()["results"]])
    return ranked


def served_generation(app: Flask) -> str:
    body = app.test_client().get("/readyz").get_json()
    return str(body["index"]["generation"])


def leftovers(config: Config) -> list[Path]:
    return sorted(IndexFolder(config.index_dir).generations.glob(".building-*"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, model_cache: Path
          ) -> Config:
    """Three small documents indexed once; tests work on copies."""
    root = tmp_path_factory.mktemp("faults")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text)
    config = Config(docs_dir=docs, index_dir=root / "index", cache_dir=model_cache)
    build_index(config, embedder=embedder)
    return config


@pytest.fixture
def site(built: Config, tmp_path: Path) -> Config:
    shutil.copytree(built.docs_dir, tmp_path / "docs")
    shutil.copytree(built.index_dir, tmp_path / "index")
    return dataclasses.replace(built, docs_dir=tmp_path / "docs", index_dir=tmp_path / "index")


# ---------------------------------------------------------------- SIGKILL just before publishing


@pytest.fixture
def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.skip("needs strace (apt-get install strace) to hold the rebuild at its publish")
    return path


def test_kill_just_before_publishing_changes_nothing_served(
    site: Config, embedder: Embedder, model_cache: Path, strace: str
) -> None:
    app = create_app(site, embedder=embedder, watch=False)
    live, before = served_generation(app), answers(app)
    (Path(site.docs_dir) / "market.txt").write_text(NEW_DOCUMENT)
    # strace delays every rename by a minute on entry: publishing is renaming the finished
    # folder into place, then renaming a new CURRENT over the old one. The build has written
    # and fsynced everything by then; it is killed while the first rename waits.
    command = [strace, "-f", "-qq", "-o", os.devnull, "-e", "trace=rename,renameat,renameat2",
               "-e", "inject=rename,renameat,renameat2:delay_enter=60000000",
               sys.executable, str(SCRIPT), "--docs", str(site.docs_dir),
               "--index-dir", str(site.index_dir), "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, env=script_env(
        model_cache, PYTHONDONTWRITEBYTECODE="1"), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        finished = wait_for(lambda: any((p / "manifest.json").exists() for p in leftovers(site)),
                            process)
        time.sleep(0.5)  # well inside the minute's delay, if the rename were not held
        assert process.poll() is None, process.communicate()
        assert finished and IndexFolder(site.index_dir).current().name == live
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the rebuild and strace, its parent
        process.communicate(timeout=60)

    (leftover,) = leftovers(site)
    assert {p.name for p in leftover.iterdir()} >= {"manifest.json", "vectors.faiss"}
    assert IndexFolder(site.index_dir).current().name == live
    read_manifest(IndexFolder(site.index_dir).current())  # whole and matching its checksums
    assert app.extensions["live_index"].refresh() is False  # nothing new to switch to
    assert answers(app) == before
    assert answers(create_app(site, embedder=embedder, watch=False)) == before

    result = run_script(site, model_cache)
    assert result.returncode == 0, report(result)
    assert "unfinished build" in result.stderr and leftover.name in result.stderr
    assert leftovers(site) == []
    assert "documents: 1 added, 0 changed, 3 unchanged" in result.stdout
    assert IndexFolder(site.index_dir).current().name != live


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes],
             timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---------------------------------------------------------------- corrupt generations


def truncate(name: str) -> Callable[[Path], None]:
    def damage(generation: Path) -> None:
        path = generation / name
        path.write_bytes(path.read_bytes()[:100])
    return damage


def flip_a_byte(name: str) -> Callable[[Path], None]:
    def damage(generation: Path) -> None:
        path = generation / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    return damage


def edit_manifest(**model: Any) -> Callable[[Path], None]:
    def damage(generation: Path) -> None:
        path = generation / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["model"].update(model)
        path.write_text(json.dumps(manifest))
    return damage


def remove(name: str) -> Callable[[Path], None]:
    return lambda generation: (generation / name).unlink()


def garble_manifest(generation: Path) -> None:
    (generation / "manifest.json").write_text('{"format_version": 2, "files": ')


OTHER_MODEL = {"name": "sentence-transformers/all-mpnet-base-v2", "weights_sha256": "0" * 64,
               "config_sha256": "1" * 64, "dimension": 768}
# (damage, what the service's log line says, what the rebuild's summary says)
CORRUPTIONS = {
    "truncated FAISS file": (truncate("vectors.faiss"), "vectors.faiss is missing or truncated",
                             "vectors.faiss is missing or truncated"),
    "FAISS file fails its checksum": (flip_a_byte("vectors.faiss"),
                                      "vectors.faiss fails its checksum",
                                      "vectors.faiss fails its checksum"),
    "SQLite file fails its checksum": (flip_a_byte("passages.sqlite"),
                                       "passages.sqlite fails its checksum",
                                       "passages.sqlite fails its checksum"),
    "vectors missing": (remove("vectors.npy"), "vectors.npy is missing or truncated",
                        "vectors.npy is missing or truncated"),
    "manifest names another model": (edit_manifest(**OTHER_MODEL),
                                     "was built with model 'sentence-transformers/all-mpnet",
                                     "model changed (sentence-transformers/all-mpnet-base-v2"),
    "manifest of another dimension": (edit_manifest(dimension=768), "was built with model",
                                      "dimension"),
    "unreadable manifest": (garble_manifest, "unreadable manifest", "unreadable manifest"),
}


def publish_a_damaged_copy(config: Config, damage: Callable[[Path], None]) -> str:
    """A copy of the live generation, damaged, made live by replacing CURRENT."""
    folder = IndexFolder(config.index_dir)
    live = folder.current()
    name = live.name + "-damaged"  # sorts after it, as a later build's name would
    shutil.copytree(live, folder.generations / name)
    damage(folder.generations / name)
    (Path(config.index_dir) / "CURRENT").write_text(name + "\n")
    return name


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_the_service_refuses_a_corrupt_generation_and_keeps_serving(
    site: Config, embedder: Embedder, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    damage, logged, _ = CORRUPTIONS[kind]
    app = create_app(site, embedder=embedder, watch=False)
    good, before = served_generation(app), answers(app)

    bad = publish_a_damaged_copy(site, damage)
    with caplog.at_level(logging.ERROR, logger="service.state"):
        assert app.extensions["live_index"].refresh() is False

    refusals = [r.getMessage() for r in caplog.records if r.name == "service.state"]
    assert len(refusals) == 1, refusals
    assert refusals[0].startswith(f"refused generation {bad}, still serving {good}: ")
    assert logged in refusals[0]
    assert served_generation(app) == good
    assert answers(app) == before


# A rebuild checks the live generation as the service does (files, checksums, model, the
# vectors' dimension against the manifest's: index/reuse.py) and re-embeds everything, saying
# why, instead of reusing what it found damaged.
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_rebuild_does_not_reuse_a_corrupt_generation(
    site: Config, embedder: Embedder, kind: str
) -> None:
    damage, _, reason = CORRUPTIONS[kind]
    publish_a_damaged_copy(site, damage)
    result = build_index(site, embedder=embedder)
    assert result.full_reason is not None and reason in result.full_reason, result.full_reason
    assert result.embedded == result.passages > 0  # nothing taken from the damaged one
    published = IndexFolder(site.index_dir).current()
    assert published.name == result.generation
    read_manifest(published)
    assert answers(create_app(site, embedder=embedder, watch=False))


def test_the_rebuild_script_says_why_it_rebuilt_everything(
    site: Config, model_cache: Path
) -> None:
    publish_a_damaged_copy(site, flip_a_byte("vectors.faiss"))
    result = run_script(site, model_cache)
    assert result.returncode == 0, report(result)
    assert "full rebuild: live generation unusable (" in result.stdout
    assert "vectors.faiss fails its checksum" in result.stdout


def test_a_service_started_on_a_corrupt_generation_serves_the_last_good_one(
    site: Config, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    good = IndexFolder(site.index_dir).current().name
    before = answers(create_app(site, embedder=embedder, watch=False))
    bad = publish_a_damaged_copy(site, flip_a_byte("vectors.faiss"))
    caplog.clear()

    app = create_app(site, embedder=embedder, watch=False)

    assert f"refused generation {bad}, still serving nothing" in caplog.text
    assert "fails its checksum" in caplog.text
    assert f"serving the older generation {good} until a good one is published" in caplog.text
    assert served_generation(app) == good
    assert answers(app) == before
    assert app.extensions["live_index"].refresh() is False  # the bad one is not retried


def test_a_service_started_with_no_good_generation_says_so(
    site: Config, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    live = IndexFolder(site.index_dir).current()
    flip_a_byte("vectors.faiss")(live)  # the only generation there is
    app = create_app(site, embedder=embedder, watch=False)
    assert f"refused generation {live.name}, still serving nothing" in caplog.text
    assert app.test_client().get("/readyz").status_code == 503
    assert app.test_client().get("/api/search?q=ferry").status_code == 503
    assert app.test_client().get("/healthz").status_code == 200


def garble_sqlite_keeping_the_manifest_true(generation: Path) -> None:
    """Damage passages.sqlite past its header, then record the damaged file's size and
    checksum, so only SQLite itself can tell (as with damage after the manifest check)."""
    path = generation / "passages.sqlite"
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    manifest = json.loads((generation / "manifest.json").read_text())
    del manifest["files"], manifest["format_version"]
    write_manifest(generation, manifest)


def test_a_damaged_sqlite_file_is_a_refused_generation_not_a_crash(
    site: Config, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(site, embedder=embedder, watch=False)
    good, before = served_generation(app), answers(app)
    bad = publish_a_damaged_copy(site, garble_sqlite_keeping_the_manifest_true)
    with caplog.at_level(logging.ERROR, logger="service.state"):
        assert app.extensions["live_index"].refresh() is False
        assert app.extensions["live_index"].refresh() is False  # refused once, not retried
    refusals = [r for r in caplog.records if r.name == "service.state"]
    assert len(refusals) == 1 and refusals[0].exc_info is None, caplog.text
    assert refusals[0].getMessage().startswith(f"refused generation {bad}, still serving {good}")
    assert answers(app) == before

    caplog.clear()
    restarted = create_app(site, embedder=embedder, watch=False)  # a fresh start falls back
    assert served_generation(restarted) == good
    assert answers(restarted) == before

    rebuilt = build_index(site, embedder=embedder)
    assert rebuilt.full_reason is not None and "passages.sqlite" in rebuilt.full_reason


def test_current_naming_a_folder_outside_generations_is_not_served(
    site: Config, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Another index with a good generation, reachable by "../" from this one's generations.
    other = tmp_path / "other"
    shutil.copytree(site.index_dir, other)
    foreign = IndexFolder(other).current()
    app = create_app(site, embedder=embedder, watch=False)
    good = served_generation(app)
    current = Path(site.index_dir) / "CURRENT"
    for pointer in (f"../../other/generations/{foreign.name}", str(foreign), "..", "."):
        current.write_text(pointer + "\n")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="service.state"):
            assert app.extensions["live_index"].refresh() is False
        assert "does not name a generation" in caplog.text
        assert served_generation(app) == good
        # A fresh start serves this folder's own newest good generation, never the pointer's.
        assert served_generation(create_app(site, embedder=embedder, watch=False)) == good
    rebuilt = build_index(site, embedder=embedder)  # and a rebuild repairs CURRENT
    assert rebuilt.full_reason is not None and "does not name a generation" in rebuilt.full_reason
    assert IndexFolder(site.index_dir).current().name == rebuilt.generation


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, mounted for the test (root only); skips where mounting is refused."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        # Lazily: the test's app may still hold the old generation's files open.
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(mount: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system."""
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    filler = mount / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def assert_failed_cleanly(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, report(result)
    assert "Traceback" not in result.stderr, report(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, report(result)
    assert all(word in errors[0] for word in words), report(result)


def room_for(generation: Path, names: tuple[str, ...], pages: int) -> int:
    """Bytes a tmpfs needs for these files of a generation like this one, plus ``pages``."""
    return (sum(-(-(generation / name).stat().st_size // PAGE) for name in names) + pages) * PAGE


PAGE = 4096
WRITTEN_BEFORE_FAISS = ("passages.sqlite", "vectors.npy")
# Where the disk fills up: while SQLite writes the passages; once they and the vectors are
# written, while FAISS writes its index (two pages here), with no room left after it or
# with one page left for the manifest.
FULL_WHILE = {
    "writing the passages": ((), 1),
    "writing the FAISS index": (WRITTEN_BEFORE_FAISS, 1),
    "writing the FAISS index, room for the manifest": (WRITTEN_BEFORE_FAISS, 2),
}


@pytest.mark.parametrize("stage", FULL_WHILE)
def test_a_full_disk_is_a_clear_error_and_the_live_index_survives(
    site: Config, embedder: Embedder, model_cache: Path, small_filesystem: Path, stage: str
) -> None:
    index = small_filesystem / "index"
    shutil.copytree(site.index_dir, index)
    config = dataclasses.replace(site, index_dir=index)
    app = create_app(config, embedder=embedder, watch=False)
    live, before = served_generation(app), answers(app)
    filler = fill(small_filesystem, room_for(IndexFolder(index).current(), *FULL_WHILE[stage]))
    (Path(config.docs_dir) / "market.txt").write_text(NEW_DOCUMENT)

    result = run_script(config, model_cache)

    assert_failed_cleanly(result, "cannot write", str(index))
    assert "disk is full" in result.stderr or "No space left on device" in result.stderr
    assert IndexFolder(index).current().name == live
    read_manifest(IndexFolder(index).current())
    assert leftovers(config) == []  # the failed build cleaned up after itself
    assert app.extensions["live_index"].refresh() is False
    assert answers(app) == before

    filler.unlink()
    assert build_index(config, embedder=embedder).generation is not None


def test_a_file_size_limit_is_a_clear_error_and_the_live_index_survives(
    site: Config, embedder: Embedder, model_cache: Path
) -> None:
    live = IndexFolder(site.index_dir).current()
    (Path(site.docs_dir) / "market.txt").write_text(NEW_DOCUMENT)

    def limit_file_size() -> None:  # writes past 32 KiB fail with EFBIG, as on a full quota
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, resource.RLIM_INFINITY))

    result = run_script(site, model_cache, preexec_fn=limit_file_size)

    assert_failed_cleanly(result, "cannot write", "passages.sqlite")
    assert IndexFolder(site.index_dir).current() == live
    read_manifest(live)
    assert leftovers(site) == []


# ---------------------------------------------------------------- files outside the docs folder


def test_links_out_of_the_docs_folder_are_neither_indexed_nor_served(
    site: Config, embedder: Embedder, tmp_path: Path
) -> None:
    docs = Path(site.docs_dir)
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "status.txt").symlink_to("/proc/self/status")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "keys.txt").write_text("root bin bash secret keys of the admin\n")
    (docs / "private").symlink_to(tmp_path / "private", target_is_directory=True)
    result = build_index(site, embedder=embedder)
    assert {s.source: s.reason for s in result.skipped} == {
        name: "symlink to outside the docs folder"
        for name in ("passwd.txt", "private", "status.txt")
    }
    client = create_app(site, embedder=embedder, watch=False).test_client()
    for doc_id in ("passwd", "status", "private/keys"):
        assert client.get(f"/api/documents/{doc_id}").status_code == 404
    found = client.get("/api/search?q=root+bin+bash+secret&mode=lexical").get_json()
    assert {hit["document"]["id"] for hit in found["results"]} <= {"ferry", "wall", "light"}


def test_a_document_named_with_a_newline_opens_from_its_link(
    site: Config, embedder: Embedder
) -> None:
    (Path(site.docs_dir) / "two\nlines.txt").write_text("Odd name\n\nThe harbour pilot sings.\n")
    build_index(site, embedder=embedder)
    client = create_app(site, embedder=embedder, watch=False).test_client()
    found = client.get("/api/search?q=harbour+pilot+sings&mode=lexical").get_json()
    hit = next(h for h in found["results"] if h["document"]["id"] == "two\nlines")
    assert client.get(hit["document"]["url"]).status_code == 200
    assert client.get(f"/api{hit['document']['url'].split('#')[0]}").get_json()["id"] == (
        "two\nlines")
