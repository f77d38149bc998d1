"""The search command: the installed console script run as a user runs it, over the sample
index, and its JSON lines read back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from index import Config

ROOT = Path(__file__).resolve().parent.parent
ANSI = "\033["


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = shutil.which("search", path=str(Path(sys.executable).parent))
    assert command, "the search console script is installed beside python"
    return subprocess.run([command, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)


def test_results_are_readable_and_plain_when_not_a_terminal(
    sample_index: Config, exported_env: dict[str, str]
) -> None:
    done = run("who speaks for the Russian foreign ministry", "--index-dir",
               str(sample_index.index_dir), env=exported_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert ANSI not in out  # piped: no colour codes
    assert out.startswith("1. Russia To Send Troops To Iraq?\n")
    assert "comment by Anonymous" in out and "Alexander Yakovenko" in out
    assert [line[:3] for line in out.splitlines() if line[:1].isdigit()] == [
        "1. ", "2. ", "3. ", "4. ", "5. "]  # --k defaults to 5


def test_json_lines_and_the_query_syntax(
    sample_index: Config, exported_env: dict[str, str]
) -> None:
    done = run('"foreign minister" Italy -Lavrov', "--json", "--k", "3",
               "--mode", "lexical", "--index-dir", str(sample_index.index_dir),
               env=exported_env)
    assert done.returncode == 0, done.stderr
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    for hit in hits:
        assert "foreign minister" in hit["text"].lower()
        assert "lavrov" not in hit["text"].lower()
        assert set(hit) >= {"score", "passage_id", "section", "page", "part", "document"}


def test_no_index_is_one_line_and_exit_1(tmp_path: Path, exported_env: dict[str, str]) -> None:
    done = run("anything", "--index-dir", str(tmp_path / "none"), env=exported_env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"Error: no index in {tmp_path / 'none'}: run rebuild-index first"]


def test_it_imports_neither_flask_nor_torch(
    sample_index: Config, exported_env: dict[str, str]
) -> None:
    code = ("import sys; from scripts.search import main\n"
            "try:\n    main([sys.argv[1], '--index-dir', sys.argv[2], '--k', '1'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in ('flask', 'torch', 'sentence_transformers') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "Lavrov in Paris",
                           str(sample_index.index_dir)], capture_output=True, text=True,
                          env=exported_env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_query_words_are_bold_on_a_terminal(
    sample_index: Config, exported_env: dict[str, str]
) -> None:
    import os
    import pty

    command = shutil.which("search", path=str(Path(sys.executable).parent))
    assert command
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [command, "Lavrov", "--k", "1", "--index-dir", str(sample_index.index_dir)],
        stdin=subprocess.DEVNULL, stdout=child, stderr=subprocess.PIPE, cwd=ROOT,
        env={**exported_env, "COLUMNS": "100"}, text=True)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the terminal's other end closed: the command has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    bold, dim, reset = "\033[1m", "\033[2m", "\033[0m"
    title, meta, *text = out.splitlines()
    assert title.startswith(f"{bold}1. ") and title.endswith(reset)
    assert meta.startswith(f"{dim}   ") and meta.endswith(reset)
    passage = "\n".join(text)
    assert f"{bold}Lavrov{reset}" in passage
    # Only the query's words: the passage's other words are plain.
    assert passage.count(bold) == passage.count("Lavrov") == passage.count(reset)


def test_where_a_passage_is_is_shown(
    folder_index: Config, exported_env: dict[str, str]
) -> None:
    done = run("neap tide", "--k", "1", "--index-dir", str(folder_index.index_dir),
               env=exported_env)
    assert done.returncode == 0, done.stderr
    title, meta = done.stdout.splitlines()[:2]
    assert title == "1. Tides"
    assert meta.startswith("   notes/tides.md · Tides · score ")  # its section: Tides


def test_pages_and_comments_are_shown_with_the_section() -> None:
    from index import Hit
    from index.store import StoredPassage
    from scripts.search import _shown

    text = "The harbour wall was rebuilt after the winter storms."
    passage = StoredPassage(1, "p1", "report.pdf", 0, 0, len(text), text,
                            ("Harbour", "Walls"), (7, 8), False, "article", None)
    hit = Hit(rank=2, score=0.5, passage=passage, document_title="Harbour report",
              document_source="papers/report.pdf", page_kind="page")
    assert _shown(hit, {"harbour"}, terminal=False) == (
        "2. Harbour report\n"
        "   papers/report.pdf · Harbour › Walls · pp. 7–8 · score 0.500\n"
        f"    {text}\n")
    dated = replace(hit, document_date="2024-02-11", document_author="Harbour office")
    assert _shown(dated, set(), terminal=False).splitlines()[1] == (
        "   papers/report.pdf · by Harbour office · 2024-02-11 · Harbour › Walls · pp. 7–8 · "
        "score 0.500")
    marked = _shown(hit, {"harbour"}, terminal=True).splitlines()[2]
    assert marked == "    The \033[1mharbour\033[0m wall was rebuilt after the winter storms."
