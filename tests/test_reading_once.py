"""A rebuild reads a file again only when its bytes or the code that reads its format changed:
extraction (PDF, Office, and OCR to come) costs far more than the embedding it saves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index import Config, Embedder, build_index
from index.generations import IndexFolder
from index.store import STORE_FILE, PassageStore

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ROOT / "tests" / "data" / "formats"
KINDS = ("docx-guide-libreoffice.docx", "odt-guide-libreoffice.odt", "dredging.eml")


@pytest.fixture
def mixed_docs(docs: Path) -> Path:
    """The sample corpus plus a Word file, an OpenDocument text and a mail with attachments."""
    for name in KINDS:
        shutil.copy(FORMATS / name, docs / name)
    return docs


def test_unchanged_files_are_kept_as_read_before(mixed_docs: Path, config: Config,
                                                  embedder: Embedder) -> None:
    first = build_index(config, embedder=embedder)
    assert first.not_reread == 0
    live = IndexFolder(config.index_dir).current()
    (mixed_docs / "001_e4d6116a5cfa59ae.txt").write_text("A new text about harbour lights.\n")

    second = build_index(config, embedder=embedder)

    assert second.changed == ["001_e4d6116a5cfa59ae"]
    assert second.not_reread == 7  # every file but the changed one
    # What is kept is what was read: same documents, and the mail's attachments and any cut
    # are still reported.
    old, new = (PassageStore.open(g / STORE_FILE)
                for g in (live, IndexFolder(config.index_dir).current()))
    for document_id in ("000_d5f4f69b644cfd4d", "docx-guide-libreoffice", "dredging"):
        assert old.get_document(document_id) == new.get_document(document_id)
    old.close()
    new.close()
    assert [s.source for s in second.skipped] == [s.source for s in first.skipped]
    assert any(s.source.startswith("dredging.eml/") for s in second.skipped)

    third = build_index(config, embedder=embedder, full=True)  # --full reads everything
    assert third.not_reread == 0


@pytest.mark.slow
def test_a_change_to_one_formats_code_reads_only_its_files_again(
    mixed_docs: Path, tmp_path: Path, exported_env: dict[str, str]
) -> None:
    # A copy of the program whose Word reader differs by one comment: its code changed.
    program = tmp_path / "program"
    for package in ("index", "scripts"):
        shutil.copytree(ROOT / package, program / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    index_dir = tmp_path / "index"

    def rebuild(code: Path) -> str:
        result = subprocess.run(
            [sys.executable, str(code / "scripts" / "rebuild_index.py"), "--docs",
             str(mixed_docs), "--index-dir", str(index_dir), "--quiet"],
            cwd=code, env={**exported_env, "PYTHONPATH": str(code)}, capture_output=True,
            text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "read:      8 files, 0 unchanged" in rebuild(program)
    assert "read:      0 files, 8 unchanged" in rebuild(program)
    word = program / "index" / "formats" / "word.py"
    word.write_text(word.read_text() + "\n# A change to how Word files are read.\n")
    summary = rebuild(program)
    assert "read:      1 files, 7 unchanged" in summary
    # Read again, the same text: nothing to embed.
    assert "0 embedded" in summary
