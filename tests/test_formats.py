"""Tests for the format extractors: bytes in, text and title out, parsers imported on demand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from index.formats import EXTRACTORS, Extracted, UnreadableDocumentError
from tests.pdf_files import pdf_bytes

ROOT = Path(__file__).resolve().parent.parent


def test_an_extractor_takes_bytes_and_gives_text_and_the_stated_title() -> None:
    extracted = EXTRACTORS[".md"](b"---\ntitle: Tides\n---\nHigh water\r\nat six.", 1000)
    assert extracted == Extracted("High water\nat six.", "Tides")


def test_a_file_stating_no_title_gives_none() -> None:
    assert EXTRACTORS[".html"](b"<script>x()</script>", 1000) == Extracted("", None)


def test_a_pdf_stops_reading_pages_past_the_limit_and_says_so() -> None:
    data = pdf_bytes([f"Page {i} " + "text " * 50 for i in range(40)])
    whole, cut = EXTRACTORS[".pdf"](data, 100_000), EXTRACTORS[".pdf"](data, 1000)
    assert not whole.partial and whole.text.count("Page") == 40
    assert cut.partial and cut.text.count("Page") < 10


def test_bytes_that_are_not_the_format_raise_the_skip_reason() -> None:
    with pytest.raises(UnreadableDocumentError, match="^broken PDF: "):
        EXTRACTORS[".pdf"](b"%PDF-1.4 not really", 1000)
    with pytest.raises(UnreadableDocumentError, match="^binary file$"):
        EXTRACTORS[".txt"](b"text\0with a NUL", 1000)


def test_parsers_are_imported_only_when_a_file_of_their_type_is_read(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Notes\n\nPlain words.")
    parsers = ("bs4", "pypdf", "pypdfium2", "docx", "pptx", "odf", "docutils", "markdown_it",
               "striprtf", "trafilatura")
    code = (
        "import sys; from pathlib import Path; from index.documents import load_documents\n"
        "folder = Path(sys.argv[1])\n"
        "load_documents(folder)\n"
        f"print(sorted(m for m in {parsers} if m in sys.modules))\n"
        "(folder / 'readme.md').write_text('# Read me\\n\\n<b>raw</b> HTML')\n"
        "load_documents(folder)\n"
        f"print(sorted(m for m in {parsers} if m in sys.modules))\n"
        "(folder / 'page.html').write_text('<p>A page.</p>')\n"
        "load_documents(folder)\n"
        f"print(sorted(m for m in {parsers} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Raw HTML in Markdown is read by bs4 alone; a web page's article is found by trafilatura.
    assert done.stdout.splitlines() == [
        "[]", "['bs4', 'markdown_it']", "['bs4', 'markdown_it', 'trafilatura']"]


def test_an_ebooks_footnote_aside_is_text_but_a_pages_aside_is_not() -> None:
    page = (b'<p>Body.</p><aside>Related links</aside>'
            b'<aside epub:type="footnote"><p>The note.</p></aside>')
    assert EXTRACTORS[".html"](page, 1000).text == "Body.\n\nThe note."
