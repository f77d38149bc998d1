"""rebuild-index as a user runs it: real subprocesses, the real model, FAISS and SQLite.

Loading the model takes most of a run, so two module fixtures build once (a first build, then
an incremental one) and the tests work on copies of their folders. Runs that find the index up
to date, fail early or roll back never load the model and take well under a second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from index import Config, Embedder
from index.generations import read_manifest
from tests.hold import HELD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SCRIPT = ROOT / "scripts" / "rebuild_index.py"
HOLD = ROOT / "tests" / "hold.py"
CONSOLE_SCRIPT = Path(sys.executable).parent / "rebuild-index"
CHANGED_DOCUMENT = "003_4783bc61b2fd86ea"
TIMEOUT = 300  # seconds; a run that loads the model takes about ten

SUMMARY_PASSAGES = re.compile(r"passages:\s+(\d+) in the index, (\d+) embedded")


# ---------------------------------------------------------------- helpers


@dataclass
class Site:
    """A docs folder and the index folder built from it."""

    docs: Path
    index: Path

    @property
    def current_file(self) -> Path:
        return self.index / "CURRENT"

    def current(self) -> str:
        return self.current_file.read_text().strip()

    def live(self) -> Path:
        return self.index / "generations" / self.current()

    def generations(self) -> list[str]:
        folder = self.index / "generations"
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def leftovers(self) -> list[Path]:
        return sorted((self.index / "generations").glob(".building-*"))

    def copy_to(self, target: Path) -> Site:
        target.mkdir(parents=True, exist_ok=True)
        copy = Site(target / "docs", target / "index")
        copy_docs(self.docs, copy.docs)
        shutil.copytree(self.index, copy.index)
        return copy


@dataclass
class Built:
    site: Site
    result: subprocess.CompletedProcess[str]


def copy_docs(source: Path, target: Path) -> None:
    """Copy a docs folder and make it writable (the sample corpus files are read-only)."""
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


_MODEL_CACHE: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _share_model_cache(model_cache: Path, embedder: Embedder) -> None:
    """Runs use the session's ONNX export (made by ``embedder``) instead of exporting anew."""
    _MODEL_CACHE[:] = [model_cache]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without SEARCH_* settings that could leak into a run,
    with the session's model cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCH_")}
    env["HF_HUB_OFFLINE"] = "1"
    env["SEARCH_CACHE_DIR"] = str(_MODEL_CACHE[0])
    env.update(extra)
    return env


def rebuild(
    *args: object,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    command: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    base = list(command) if command else [sys.executable, str(SCRIPT)]
    return subprocess.run(
        [*base, *map(str, args)], cwd=cwd, env=dict(env) if env else clean_env(),
        capture_output=True, text=True, timeout=TIMEOUT,
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def passages_in(generation: Path, document_id: str | None = None) -> int:
    with sqlite3.connect(f"file:{generation / 'passages.sqlite'}?mode=ro", uri=True) as db:
        if document_id is None:
            row = db.execute("SELECT count(*) FROM passages").fetchone()
        else:
            row = db.execute(
                "SELECT count(*) FROM passages WHERE document_id = ?", (document_id,)
            ).fetchone()
    return int(row[0])


def summary_counts(stdout: str) -> tuple[int, int]:
    """(passages in the index, passages embedded) from the summary."""
    match = SUMMARY_PASSAGES.search(stdout)
    assert match, stdout
    return int(match[1]), int(match[2])


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """A failed run: the exit code, one `Error:` line holding ``words``, no traceback."""
    assert result.returncode == code, report(result)
    assert "Traceback" not in result.stderr, report(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, report(result)
    for word in words:
        assert word in errors[0], report(result)


def toml_file(path: Path, **settings: object) -> Path:
    # JSON strings are valid TOML basic strings for these plain paths.
    path.write_text("".join(f"{key} = {json.dumps(str(v))}\n" for key, v in settings.items()))
    return path


class Watched:
    """A rebuild running in the background whose stderr is read as it arrives.

    ``hold`` (see tests/hold.py) stops it at one point of its work, such as
    "stderr:Chunking", for ``wait_for_stderr(HELD)`` and a kill there.
    """

    def __init__(
        self, *args: object, hold: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HOLD), hold, str(SCRIPT), *map(str, args)], cwd=ROOT,
            env=dict(env) if env else clean_env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._stderr = bytearray()
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 65536):
            with self._changed:
                self._stderr += chunk
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return self._stderr.decode(errors="replace")

    def wait_for_stderr(self, text: str, timeout: float = TIMEOUT) -> None:
        """Block until ``text`` appears on stderr."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        with self._changed:
            found = self._changed.wait_for(
                lambda: needle in self._stderr or self._eof, deadline - time.monotonic()
            ) and needle in self._stderr
        if not found:
            self.kill()
            pytest.fail(f"{text!r} never appeared on stderr:\n{self.stderr}")

    def __enter__(self) -> Watched:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()  # never leave a rebuild running behind a failed test

    def kill(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()
        return code


def served_answers(site: Site, embedder: Embedder) -> list[list[tuple[str, float]]]:
    """What the service answers over ``site``'s live generation, for a few queries."""
    from service import create_app

    app = create_app(Config(docs_dir=site.docs, index_dir=site.index), embedder=embedder,
                     watch=False)
    client = app.test_client()
    answers = []
    for query in ("Russian foreign ministry", "climate talks", "troops"):
        response = client.get("/api/search", query_string={"q": query, "k": 5})
        assert response.status_code == 200, response.get_json()
        answers.append([(h["passage_id"], h["score"]) for h in response.get_json()["results"]])
    return answers


def assert_live_generation_survived(
    site: Site, before: str, generations: list[str], embedder: Embedder,
    answers: list[list[tuple[str, float]]],
) -> None:
    """The kill changed nothing a reader sees, and left its unfinished build behind."""
    assert site.current() == before
    assert site.generations() == generations
    manifest = read_manifest(site.live())  # verifies every file's size and sha256
    assert manifest["counts"]["documents"] == 5
    assert len(site.leftovers()) == 1
    assert served_answers(site, embedder) == answers


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sample corpus indexed from scratch, once for the module."""
    base = tmp_path_factory.mktemp("first")
    site = Site(base / "docs", base / "index")
    copy_docs(CORPUS, site.docs)
    return Built(site, rebuild("--docs", site.docs, "--index-dir", site.index))


@pytest.fixture(scope="module")
def second(first: Built, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A copy of ``first`` rebuilt with --quiet after one document got a new paragraph."""
    assert first.result.returncode == 0, report(first.result)
    site = first.site.copy_to(tmp_path_factory.mktemp("second"))
    changed = site.docs / f"{CHANGED_DOCUMENT}.txt"
    changed.write_text(
        changed.read_text() + "\n\nA closing paragraph, added later, about the harbour at "
        "dawn and the fishing boats that leave it before the markets open.\n"
    )
    return Built(site, rebuild("--docs", site.docs, "--index-dir", site.index, "--quiet"))


@pytest.fixture(scope="module")
def big_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus and 19 renamed copies of it: 100 documents, about 3,000 passages."""
    docs = tmp_path_factory.mktemp("big") / "docs"
    copy_docs(CORPUS, docs)
    for source in sorted(CORPUS.glob("*.txt")):
        for i in range(1, 20):
            (docs / f"copy{i:02d}_{source.name}").write_bytes(source.read_bytes())
    return docs


@pytest.fixture
def site(first: Built, tmp_path: Path) -> Site:
    """A private copy of the first build that a test may change."""
    assert first.result.returncode == 0, report(first.result)
    return first.site.copy_to(tmp_path / "site")


# ---------------------------------------------------------------- a first and a second run


def test_first_run_prints_the_summary_on_stdout(first: Built) -> None:
    result, site = first.result, first.site
    assert result.returncode == 0, report(result)
    headline = re.search(r"^Indexed (\S+) into (\S+), generation (\S+)\.$", result.stdout, re.M)
    assert headline, report(result)
    assert headline[1] == str(site.docs)
    assert headline[2] == str(site.index)
    assert headline[3] == site.current()
    assert "documents: 5 added, 0 changed, 0 unchanged, 0 removed, 0 skipped" in result.stdout
    assert re.search(r"^  by type:   5 \.txt$", result.stdout, re.M), result.stdout
    in_index, embedded = summary_counts(result.stdout)
    assert in_index == embedded == passages_in(site.live()) > 50
    assert read_manifest(site.live())["counts"] == {"documents": 5, "passages": in_index}
    assert re.search(r"^  took \d+\.\d s$", result.stdout, re.M), result.stdout
    assert site.generations() == [site.current()]
    assert site.leftovers() == []


def test_first_run_progress_and_logs_go_to_stderr_only(first: Built) -> None:
    result = first.result
    for text in ("Chunking", "Embedding", "INFO", "published generation"):
        assert text in result.stderr, report(result)
        assert text not in result.stdout, report(result)
    assert "\r" not in result.stdout and "%|" not in result.stdout
    # The bars ran to the end: 5 documents chunked, every passage embedded.
    in_index, _ = summary_counts(result.stdout)
    assert re.search(r"Chunking: 100%.*5/5", result.stderr)
    assert re.search(rf"Embedding: 100%.*{in_index}/{in_index}", result.stderr)


def test_unchanged_second_run_reembeds_nothing_and_keeps_current(site: Site) -> None:
    # Run through the installed console script, as a user on PATH would.
    assert CONSOLE_SCRIPT.is_file()
    before = site.current_file.stat()
    content, generations = site.current_file.read_bytes(), site.generations()

    result = rebuild("--docs", site.docs, "--index-dir", site.index, command=[str(CONSOLE_SCRIPT)])

    assert result.returncode == 0, report(result)
    assert "up to date" in result.stdout
    assert "nothing re-embedded" in result.stdout
    assert "documents: 0 added, 0 changed, 5 unchanged, 0 removed, 0 skipped" in result.stdout
    in_index, embedded = summary_counts(result.stdout)
    assert embedded == 0
    assert in_index == passages_in(site.live())
    after = site.current_file.stat()
    assert site.current_file.read_bytes() == content
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert site.generations() == generations
    assert site.leftovers() == []
    assert "Embedding" not in result.stderr  # nothing to embed: no model run


def test_new_chunking_splits_every_document_again_and_says_so(tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = rebuild("--docs", CORPUS, "--index-dir", index, "--quiet")
    assert first.returncode == 0, report(first)
    result = rebuild("--docs", CORPUS, "--index-dir", index, "--quiet",
                     env=clean_env(SEARCH_MAX_PASSAGE_TOKENS="64"))
    assert result.returncode == 0, report(result)
    assert ("  every document split again: chunking settings changed (passages split as "
            "before keep their vectors)") in result.stdout
    assert "full rebuild" not in result.stdout
    in_index, embedded = summary_counts(result.stdout)
    assert in_index > summary_counts(first.stdout)[0] and 0 < embedded < in_index


def test_changed_document_is_the_only_one_reembedded(first: Built, second: Built) -> None:
    result, site = second.result, second.site
    assert result.returncode == 0, report(result)
    assert "documents: 0 added, 1 changed, 4 unchanged, 0 removed, 0 skipped" in result.stdout
    headline = re.search(r"generation (\S+)\.$", result.stdout, re.M)
    assert headline and headline[1] == site.current() != first.site.current()
    in_index, embedded = summary_counts(result.stdout)
    live = site.live()
    assert embedded == passages_in(live, CHANGED_DOCUMENT) > 0
    assert in_index == passages_in(live) > embedded
    assert in_index == passages_in(first.site.live()) + 1  # one paragraph more
    # The previous generation stays on disk for --rollback.
    assert site.generations() == sorted([first.site.current(), site.current()])
    read_manifest(live)


def test_quiet_prints_the_summary_without_bars_or_logs(second: Built) -> None:
    result = second.result
    assert result.returncode == 0, report(result)
    assert result.stdout.startswith("Indexed ")
    assert "took" in result.stdout
    for text in ("Chunking", "Embedding", "INFO", "published generation"):
        assert text not in result.stderr, report(result)


def test_quiet_shows_no_progress_bar_at_all(second: Built) -> None:
    assert second.result.returncode == 0
    assert "%|" not in second.result.stderr, second.result.stderr


def test_skipped_files_are_listed_with_reasons_and_the_run_succeeds(site: Site) -> None:
    (site.docs / "empty.txt").write_bytes(b"")
    (site.docs / "bin.txt").write_bytes(b"\x00\x01\x02binary\x00\xff" * 200)

    result = rebuild("--docs", site.docs, "--index-dir", site.index)

    assert result.returncode == 0, report(result)
    assert "0 removed, 2 skipped" in result.stdout
    skipped = dict(re.findall(r"^  skipped (\S+): (.+)$", result.stdout, re.M))
    assert skipped.keys() == {"empty.txt", "bin.txt"}, result.stdout
    assert skipped["empty.txt"] == "empty"
    assert "binary" in skipped["bin.txt"]


# ---------------------------------------------------------------- errors


def test_missing_docs_folder_is_a_one_line_error(tmp_path: Path) -> None:
    missing, index = tmp_path / "no-such-docs", tmp_path / "index"
    result = rebuild("--docs", missing, "--index-dir", index)
    assert_clean_error(result, 1, str(missing))
    assert result.stdout == ""
    assert not (index / "CURRENT").exists()
    assert not (index / "generations").exists()


def test_docs_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("A file where a folder should be.\n")
    result = rebuild("--docs", not_a_folder, "--index-dir", tmp_path / "index")
    assert_clean_error(result, 1, str(not_a_folder))
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_docs_folder_without_usable_documents_is_an_error(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.txt").write_text("")
    result = rebuild("--docs", docs, "--index-dir", tmp_path / "index")
    assert_clean_error(result, 1, "no usable documents", str(docs))
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_failed_run_leaves_the_live_index_alone(site: Site) -> None:
    before, generations = site.current(), site.generations()
    for path in site.docs.iterdir():
        path.write_text("")
    result = rebuild("--docs", site.docs, "--index-dir", site.index)
    assert_clean_error(result, 1, "no usable documents")
    assert site.current() == before
    assert site.generations() == generations
    read_manifest(site.live())


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    result = rebuild("--no-such-option")
    assert result.returncode == 2, report(result)
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr
    result = rebuild("--docs")  # the option needs a value
    assert result.returncode == 2, report(result)


def test_help_lists_the_options_without_loading_the_model() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], cwd=ROOT, env=clean_env(),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, report(result)
    for option in ("--docs", "--index-dir", "--model", "--full", "--quiet", "--rollback",
                   "--config"):
        assert option in result.stdout
    assert "Loading" not in result.stderr
    assert result.stderr == ""


def test_bad_environment_value_names_the_variable(site: Site) -> None:
    result = rebuild("--docs", site.docs, "--index-dir", site.index,
                     env=clean_env(SEARCH_BATCH_SIZE="many"))
    assert_clean_error(result, 1, "SEARCH_BATCH_SIZE", "batch_size")


# ---------------------------------------------------------------- rollback


def test_rollback_makes_the_previous_generation_live(first: Built, second: Built,
                                                     tmp_path: Path) -> None:
    assert second.result.returncode == 0, report(second.result)
    site = second.site.copy_to(tmp_path / "site")
    older, newer = site.generations()
    assert site.current() == newer

    result = rebuild("--rollback", "--index-dir", site.index)

    assert result.returncode == 0, report(result)
    assert older in result.stdout and "Rolled back" in result.stdout
    assert site.current() == older == first.site.current()
    assert site.generations() == [older, newer]  # nothing deleted
    assert read_manifest(site.live())["counts"]["passages"] == passages_in(first.site.live())

    # There is nothing older than the oldest generation.
    again = rebuild("--rollback", "--index-dir", site.index)
    assert_clean_error(again, 1, older)
    assert site.current() == older


def test_rollback_with_one_generation_is_a_clear_error(site: Site) -> None:
    before = site.current()
    result = rebuild("--rollback", "--index-dir", site.index)
    assert_clean_error(result, 1, "no generation older than", before)
    assert site.current() == before


def test_rollback_without_an_index_is_a_clear_error(tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = rebuild("--rollback", "--index-dir", index)
    assert_clean_error(result, 1, str(index), "rebuild-index")
    assert not index.exists()


# ---------------------------------------------------------------- where settings come from
# These runs use a scratch working directory: a setting that is ignored would fall back to
# the default var/index there, not in the repository.


def test_search_index_dir_variable_is_used(site: Site, tmp_path: Path) -> None:
    result = rebuild("--docs", site.docs, cwd=tmp_path,
                     env=clean_env(SEARCH_INDEX_DIR=str(site.index)))
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date" in result.stdout
    assert not (tmp_path / "var").exists()


def test_index_dir_flag_wins_over_the_variable(site: Site, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = rebuild("--docs", site.docs, "--index-dir", site.index, cwd=tmp_path,
                     env=clean_env(SEARCH_INDEX_DIR=str(elsewhere)))
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date" in result.stdout
    assert not elsewhere.exists()


def test_config_file_settings_are_used(site: Site, tmp_path: Path) -> None:
    config = toml_file(tmp_path / "search.toml", docs_dir=site.docs, index_dir=site.index)
    result = rebuild("--config", config, cwd=tmp_path)
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date with {site.docs}" in result.stdout
    # The file can also be named by SEARCH_CONFIG.
    result = rebuild(cwd=tmp_path, env=clean_env(SEARCH_CONFIG=str(config)))
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date with {site.docs}" in result.stdout
    assert not (tmp_path / "var").exists()


def test_flags_and_variables_win_over_the_config_file(site: Site, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    config = toml_file(tmp_path / "search.toml",
                       docs_dir=tmp_path / "no-such-docs", index_dir=elsewhere)
    result = rebuild("--config", config, "--docs", site.docs, "--index-dir", site.index,
                     cwd=tmp_path)
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date with {site.docs}" in result.stdout

    result = rebuild("--config", config, cwd=tmp_path, env=clean_env(
        SEARCH_DOCS_DIR=str(site.docs), SEARCH_INDEX_DIR=str(site.index)))
    assert result.returncode == 0, report(result)
    assert f"Index {site.index} is up to date with {site.docs}" in result.stdout
    assert not elsewhere.exists()


def test_unknown_key_in_the_config_file_is_an_error(site: Site, tmp_path: Path) -> None:
    config = tmp_path / "search.toml"
    config.write_text(f"index_dir = {json.dumps(str(site.index))}\nbatchsize = 8\n")
    result = rebuild("--config", config, "--docs", site.docs, cwd=tmp_path)
    assert_clean_error(result, 1, "batchsize", str(config))


def test_missing_config_file_is_an_error(site: Site, tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = rebuild("--config", missing, "--docs", site.docs, "--index-dir", site.index)
    assert_clean_error(result, 1, str(missing))


def test_config_file_that_is_not_utf8_is_a_clean_error(site: Site, tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('model = "café"\n'.encode("latin-1"))
    result = rebuild("--config", config, "--docs", site.docs, "--index-dir", site.index)
    assert_clean_error(result, 1, str(config))


# ---------------------------------------------------------------- killed rebuilds
# A rebuild killed with SIGKILL at any point must leave the live generation untouched and
# readable; its unfinished folder stays until the next rebuild removes it.


def test_kill_while_chunking_leaves_the_live_generation(
    site: Site, big_docs: Path, embedder: Embedder
) -> None:
    before, generations = site.current(), site.generations()
    answers = served_answers(site, embedder)
    with Watched("--docs", big_docs, "--index-dir", site.index, "--full",
                 hold="stderr:Chunking") as run:
        run.wait_for_stderr(HELD)
        code = run.kill()

    assert code == -signal.SIGKILL  # it was still running
    assert "Embedding" not in run.stderr  # held as chunking began
    assert_live_generation_survived(site, before, generations, embedder, answers)
    (leftover,) = site.leftovers()
    assert not (leftover / "vectors.npy").exists()


def test_kill_while_embedding_then_the_next_run_recovers(
    site: Site, big_docs: Path, embedder: Embedder
) -> None:
    before, generations = site.current(), site.generations()
    answers = served_answers(site, embedder)
    with Watched("--docs", big_docs, "--index-dir", site.index, "--full",
                 hold="stderr:Embedding") as run:
        run.wait_for_stderr(HELD)
        code = run.kill()

    assert code == -signal.SIGKILL
    assert_live_generation_survived(site, before, generations, embedder, answers)
    (leftover,) = site.leftovers()
    assert (leftover / "passages.sqlite").exists()  # chunking was done
    assert not (leftover / "manifest.json").exists()

    # The next rebuild removes the unfinished folder and publishes normally.
    result = rebuild("--docs", big_docs, "--index-dir", site.index)

    assert result.returncode == 0, report(result)
    assert "documents: 95 added, 0 changed, 5 unchanged, 0 removed, 0 skipped" in result.stdout
    assert "unfinished build" in result.stderr and leftover.name in result.stderr
    assert site.leftovers() == []
    assert site.current() != before
    assert site.generations() == sorted([before, site.current()])
    manifest = read_manifest(site.live())
    in_index, _ = summary_counts(result.stdout)
    assert manifest["counts"] == {"documents": 100, "passages": in_index}
    assert in_index == passages_in(site.live()) == 20 * passages_in(site.live().parent / before)


def test_kill_while_writing_the_vectors_leaves_the_live_generation(
    site: Site, embedder: Embedder
) -> None:
    # Held as it opens the FAISS file: in the write phase, vectors.npy saved, not published.
    before, generations = site.current(), site.generations()
    answers = served_answers(site, embedder)
    with Watched("--docs", site.docs, "--index-dir", site.index, "--full",
                 hold="open:vectors.faiss") as run:
        run.wait_for_stderr(HELD)
        code = run.kill()

    assert code == -signal.SIGKILL
    assert "Embedding: 100%" in run.stderr
    assert_live_generation_survived(site, before, generations, embedder, answers)
    (leftover,) = site.leftovers()
    assert (leftover / "passages.sqlite").exists() and (leftover / "vectors.npy").exists()
    assert not (leftover / "manifest.json").exists()
    assert read_manifest(site.live())["faiss_factory"] == "auto"


def test_quiet_is_the_summary_alone_even_on_a_first_build(tmp_path: Path) -> None:
    """A first build exports the model (progress bars and dozens of log lines from the
    libraries) and skips files (each also a WARNING line): with --quiet, only the summary,
    which lists the skipped files once."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ROOT / "corpus" / "003_4783bc61b2fd86ea.txt", docs)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "notes.xyz").write_text("not a format")
    env = clean_env(SEARCH_CACHE_DIR=str(tmp_path / "fresh-cache"))  # the model exported again
    result = rebuild("--docs", docs, "--index-dir", tmp_path / "index", "--quiet", env=env)
    assert result.returncode == 0, report(result)
    assert result.stderr == "", report(result)
    assert result.stdout.count("empty.txt") == 1 and result.stdout.count("notes.xyz") == 1
    assert "2 skipped" in result.stdout
