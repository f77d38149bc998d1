"""rebuild-index over a docs folder of broken files: it indexes what it can and says why not.

One real run of the script (real model, FAISS, SQLite) over a 50 MB text file, a binary file
named .txt, Latin-1 and UTF-16 files, an empty file, a file it may not read, a FIFO and a
symlink loop, beside one ordinary document; and a docs folder or index folder the scripts may
not use, which is one ``Error:`` line. Root reads any file whatever its mode, so under root the
runs drop the two capabilities that let it (setpriv, from util-linux): the file is then
unreadable to the rebuild as it would be to any other user.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from index import Embedder

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rebuild_index.py"
EVALUATE = ROOT / "scripts" / "evaluate.py"
MB = 1024 * 1024
SKIPPED = re.compile(r"^  skipped (\S+): (.+)$", re.M)

LATIN_1 = "Café crème\n\nLe café crème coûte deux francs à Genève, près du lac Léman.\n"
UTF_16 = "Zürich notes\n\nThe tram to Zürich's Hauptbahnhof leaves every seven minutes.\n"
PLAIN = "Harbour notes\n\nThe ferry leaves the north pier at ten and returns at six.\n"
EXPECTED_SKIPS = {
    "big.txt": "too large (50.0 MiB > 25 MiB limit)",
    "binary.txt": "binary file",
    "empty.txt": "empty",
    "loop-a.txt": "unreadable: Too many levels of symbolic links",
    "loop-b.txt": "unreadable: Too many levels of symbolic links",
    "pipe.txt": "unreadable: not a regular file",
    "secret.txt": "unreadable: Permission denied",
}


@dataclass
class Run:
    docs: Path
    index: Path
    result: subprocess.CompletedProcess[str]

    def report(self) -> str:
        r = self.result
        return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def without_read_override() -> list[str]:
    """A command prefix under which this user cannot read a file its mode forbids."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root, the unreadable file needs setpriv (util-linux) to drop "
                    "CAP_DAC_OVERRIDE")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def broken_docs(docs: Path, with_good: bool = True) -> None:
    docs.mkdir()
    with open(docs / "big.txt", "wb") as f:  # 50 MB of real text, over the 25 MB limit
        line = b"The ferry timetable changes in winter, when the storms close the pier.\n"
        f.write(line * (50 * MB // len(line) + 1))
        f.truncate(50 * MB)
    (docs / "binary.txt").write_bytes(Path(sys.executable).read_bytes()[:200_000])
    (docs / "empty.txt").write_bytes(b"")
    secret = docs / "secret.txt"
    secret.write_text("Nobody but its owner may read this file.\n")
    secret.chmod(0)
    os.mkfifo(docs / "pipe.txt")
    (docs / "loop-a.txt").symlink_to("loop-b.txt")
    (docs / "loop-b.txt").symlink_to("loop-a.txt")
    (docs / "sub").mkdir()
    (docs / "sub" / "up").symlink_to("..", target_is_directory=True)  # a directory loop
    if with_good:
        (docs / "latin1.txt").write_bytes(LATIN_1.encode("latin-1"))
        (docs / "utf16-le.txt").write_bytes(UTF_16.encode("utf-16"))  # with its BOM
        (docs / "utf16-be.txt").write_bytes(b"\xfe\xff" + PLAIN.encode("utf-16-be"))


def run_script(
    script: Path, *args: object, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*without_read_override(), sys.executable, str(script), *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def rebuild(docs: Path, index: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_script(SCRIPT, "--docs", docs, "--index-dir", index, env=env)


def script_env(model_cache: Path) -> dict[str, str]:
    """No SEARCH_* settings of this process; the session's model cache (its ONNX export)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCH_")}
    return {**env, "HF_HUB_OFFLINE": "1", "SEARCH_CACHE_DIR": str(model_cache)}


def good_docs(docs: Path) -> Path:
    docs.mkdir()
    (docs / "good.txt").write_text(PLAIN)
    return docs


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, embedder: Embedder) -> Run:
    """The rebuild over the broken files; ``embedder`` has filled the model cache first."""
    base = tmp_path_factory.mktemp("broken")
    docs, index = base / "docs", base / "index"
    broken_docs(docs)
    return Run(docs, index, rebuild(docs, index, script_env(model_cache)))


def test_the_rebuild_succeeds_and_reports_every_skip_with_its_reason(run: Run) -> None:
    assert run.result.returncode == 0, run.report()
    assert "documents: 3 added, 0 changed, 0 unchanged, 0 removed, 7 skipped" in run.result.stdout
    assert dict(SKIPPED.findall(run.result.stdout)) == EXPECTED_SKIPS, run.report()
    assert "Traceback" not in run.result.stderr


def test_the_readable_files_are_indexed_with_their_text_decoded(run: Run) -> None:
    generation = (run.index / "CURRENT").read_text().strip()
    store = run.index / "generations" / generation / "passages.sqlite"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        texts = dict(db.execute("SELECT id, text FROM documents"))
    assert texts == {
        "latin1": LATIN_1.strip(), "utf16-le": UTF_16.strip(), "utf16-be": PLAIN.strip(),
    }


def test_nothing_usable_is_a_clear_error(tmp_path: Path, model_cache: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    broken_docs(docs, with_good=False)
    result = rebuild(docs, index, script_env(model_cache))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: no usable documents in {docs} (7 files skipped)"
    )
    assert "Traceback" not in result.stderr
    assert not (index / "CURRENT").exists()


def test_a_read_only_index_folder_is_a_clear_error(tmp_path: Path, model_cache: Path) -> None:
    docs, index = good_docs(tmp_path / "docs"), tmp_path / "index"
    index.mkdir(mode=0o555)
    index.chmod(0o555)
    result = rebuild(docs, index, script_env(model_cache))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot write to the index folder {index}: Permission denied"
    )
    assert "Traceback" not in result.stderr


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The script's one ``Error:`` line, after checking it failed with exit 1 and no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    return errors[0]


def evaluate(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_script(EVALUATE, "--queries", ROOT / "eval" / "sample_queries.jsonl", "--quiet",
                      *args, env=env)


def test_a_docs_folder_it_may_not_read_is_one_error_line(
    tmp_path: Path, model_cache: Path
) -> None:
    docs, index = good_docs(tmp_path / "docs"), tmp_path / "index"
    docs.chmod(0)
    env = script_env(model_cache)
    expected = f"Error: cannot read the docs folder {docs}: Permission denied"
    assert one_error_line(rebuild(docs, index, env)) == expected
    assert not (index / "CURRENT").exists()
    # Named by the environment instead of --docs, it is the same error.
    from_env = run_script(SCRIPT, "--index-dir", index, env={**env, "SEARCH_DOCS_DIR": str(docs)})
    assert one_error_line(from_env) == expected
    assert one_error_line(evaluate("--docs", docs, env=env)) == expected


def test_evaluate_into_an_index_folder_it_may_not_write_is_one_error_line(
    tmp_path: Path, model_cache: Path
) -> None:
    docs, locked = good_docs(tmp_path / "docs"), tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    env = script_env(model_cache)
    result = evaluate("--docs", docs, "--index-dir", locked / "index", env=env)
    assert one_error_line(result) == (
        f"Error: cannot write to the index folder {locked / 'index'}: Permission denied"
    )
    result = evaluate("--docs", docs, "--json", locked / "metrics.json", env=env)
    assert one_error_line(result) == (
        f"Error: cannot write {locked / 'metrics.json'}: Permission denied"
    )


def test_text_cut_short_is_said_in_the_summary(tmp_path: Path, model_cache: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "long.txt").write_text("Long\n\n" + "many words here " * 500)
    env = {**script_env(model_cache), "SEARCH_MAX_DOCUMENT_CHARS": "1000"}
    result = rebuild(docs, index, env)
    assert result.returncode == 0, result.stderr
    assert ("  cut short long.txt: text cut to its first 1,000 characters (of 8,005)"
            in result.stdout.splitlines())
