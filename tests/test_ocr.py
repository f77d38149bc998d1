"""Scanned PDFs: pages without a text layer are read by Tesseract, or left out with a note."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from index.documents import load_documents
from tests.pdf_files import pdf_bytes

ROOT = Path(__file__).resolve().parent.parent
SCANNED = "The harbour master publishes tide tables every Monday before the first ferry."
TYPED = "Anchoring is forbidden inside the swing moorings."

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract not installed (make setup installs it)")


def scanned_page(text: str) -> bytes:
    """A PDF of one page that is a picture of ``text``, as a scanner makes it: no text layer."""
    image = Image.new("L", (1700, 300), 255)
    ImageDraw.Draw(image).text((50, 100), text, fill=0, font=ImageFont.load_default(size=40))
    out = io.BytesIO()
    image.save(out, "PDF", resolution=150)
    return out.getvalue()


def typed_then_scanned() -> bytes:
    writer = PdfWriter()
    for part in (pdf_bytes([TYPED]), scanned_page(SCANNED)):
        for page in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def words(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


@needs_tesseract
def test_a_scanned_page_is_read_by_ocr(tmp_path: Path) -> None:
    (tmp_path / "notice.pdf").write_bytes(typed_then_scanned())
    [document] = load_documents(tmp_path).documents
    typed, scanned = document.text.split("\n\n")
    assert typed == TYPED
    assert words(scanned) == words(SCANNED)
    assert document.cut is None
    # Each page's text knows its page, and the scanned page's that OCR read it.
    structure = document.structure
    assert structure.pages == ((0, 1), (len(typed) + 2, 2))
    assert structure.read_by_ocr(len(typed) + 2, len(document.text))
    assert not structure.read_by_ocr(0, len(typed))


def test_without_tesseract_scans_are_left_out_and_said(tmp_path: Path) -> None:
    (tmp_path / "notice.pdf").write_bytes(typed_then_scanned())
    (tmp_path / "scan.pdf").write_bytes(scanned_page(SCANNED))
    # The loader in a process that cannot find tesseract on its PATH.
    code = ("import sys; from pathlib import Path; from index.documents import load_documents\n"
            "report = load_documents(Path(sys.argv[1]))\n"
            "for d in report.documents: print(d.source, repr(d.text), d.cut)\n"
            "for s in report.skipped: print(s.source, s.reason)\n")
    python_only = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=python_only,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    note = ("page without a text layer not read ({}): "
            "install Tesseract (apt-get install tesseract-ocr)")
    assert done.stdout.splitlines() == [
        f"notice.pdf {TYPED!r} 1 {note.format('p. 2')} to read them",
        f"scan.pdf 1 {note.format('p. 1')} to read them",
    ]


def test_a_page_that_ocr_fails_on_is_left_out_and_said(tmp_path: Path) -> None:
    docs, bin_dir = tmp_path / "docs", tmp_path / "bin"
    docs.mkdir()
    bin_dir.mkdir()
    (docs / "notice.pdf").write_bytes(typed_then_scanned())
    # A Tesseract that fails on every image, as a real one does on a page it cannot decode.
    tesseract = bin_dir / "tesseract"
    tesseract.write_text("#!/bin/sh\necho 'Error: cannot read this image' >&2\nexit 1\n")
    tesseract.chmod(0o755)
    code = ("import sys; from pathlib import Path; from index.documents import load_documents\n"
            "report = load_documents(Path(sys.argv[1]))\n"
            "for d in report.documents: print(d.source, repr(d.text), d.cut)\n")
    path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
    done = subprocess.run([sys.executable, "-c", code, str(docs)], cwd=ROOT,
                          env={**os.environ, "PATH": path}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"notice.pdf {TYPED!r} OCR failed on p. 2 (OCR failed: Error: cannot read this image)"]


@needs_tesseract
@pytest.mark.slow
def test_scans_left_out_are_read_once_tesseract_is_installed(
    tmp_path: Path, exported_env: dict[str, str]
) -> None:
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "notice.pdf").write_bytes(typed_then_scanned())

    def rebuild(path: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "rebuild_index.py"), "--docs", str(docs),
             "--index-dir", str(index_dir), "--quiet"],
            cwd=ROOT, env={**exported_env, "PATH": path}, capture_output=True, text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    without = rebuild(str(Path(sys.executable).parent))
    assert "cut short notice.pdf: 1 page without a text layer not read" in without
    with_ocr = rebuild(os.environ["PATH"])
    assert "read:      1 files, 0 unchanged" in with_ocr
    assert "cut short" not in with_ocr
    assert "documents: 0 added, 1 changed" in with_ocr


@needs_tesseract
def test_a_long_scan_is_read_in_part_once_its_ocr_time_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index.formats import pdf

    writer = PdfWriter()
    for part in (pdf_bytes([TYPED]), *[scanned_page(SCANNED)] * 3):
        for page in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(page)
    with open(tmp_path / "long-scan.pdf", "wb") as out:
        writer.write(out)
    # The time of one page: the first scan is read, the two after it are left out and said.
    monkeypatch.setattr(pdf, "OCR_SECONDS", 0.001)
    [document] = load_documents(tmp_path).documents
    typed, scanned = document.text.split("\n\n")
    assert typed == TYPED and words(scanned) == words(SCANNED)
    assert document.cut == "2 pages not read by OCR (p. 3, 4): OCR stops after 0.001 s a document"
