"""PDF titles and unreadable text, on real papers (tests/data/pdf, from the 193 papers of
docs/quality.md "PDF titles and unreadable text") and real pages' text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from index.formats import EXTRACTORS, ocr
from index.formats.extraction import UnreadableDocumentError
from index.formats.language_check import is_language
from index.formats.pdf_title import is_junk_metadata, pdf_title

DATA = Path(__file__).resolve().parent / "data" / "pdf"
# Pages' text as pypdf (and, where said, pypdfium2) extracts it, keyed "language: ..." or
# "garbage: ..."; the garbage from papers whose fonts have no usable Unicode map.
PAGE_TEXTS: dict[str, str] = json.loads((DATA / "page_texts.json").read_text())

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract not installed (make setup installs it)")


@pytest.mark.parametrize("name", sorted(PAGE_TEXTS))
def test_language_passes_and_garbage_fails(name: str) -> None:
    assert is_language(PAGE_TEXTS[name]) == name.startswith("language:"), name


def test_a_short_page_is_not_judged() -> None:
    """A figure's labels or a page number are too little to tell a broken font by."""
    assert is_language("Figure 3\n\x01\x02 12")
    assert is_language("")


@pytest.mark.parametrize("title", [
    "paper.dvi", "Microsoft Word - ppcoin-paper.doc", "untitled", "Untitled Document",
    "Title", "CR_final", "1234", "~~~", "/BY /D6/CC/CX/D1/CT/BM", "main.tex"])
def test_junk_metadata_titles_are_refused(title: str) -> None:
    assert is_junk_metadata(title)


@pytest.mark.parametrize("title", [
    "Bitcoin: A Peer-to-Peer Electronic Cash System", "Tilings", "The Transcendence of π",
    "Zur Elektrodynamik bewegter Körper"])
def test_titles_in_metadata_are_kept(title: str) -> None:
    assert not is_junk_metadata(title)


@pytest.mark.parametrize(("name", "title"), [
    # Metadata "Microsoft Word - ppcoin-paper.doc".
    ("peercoin.pdf", "PPCoin: Peer-to-Peer Crypto-Currency with Proof-of-Stake"),
    # No metadata title; three lines, the first "Brewer’s Conjecture and the Feasibility of".
    ("brewers-conjecture.pdf", "Brewer’s Conjecture and the Feasibility of Consistent, "
                               "Available, Partition-Tolerant Web Services"),
    # Metadata "macromod.dvi".
    ("composable-macros.pdf", "Composable and Compilable Macros"),
])
def test_the_title_is_the_first_pages_largest_text(name: str, title: str) -> None:
    data = (DATA / name).read_bytes()
    assert EXTRACTORS[".pdf"](data, 1_000_000).title == title


def test_good_metadata_that_agrees_with_the_largest_text_is_taken() -> None:
    import pypdfium2

    data = pypdfium2.PdfDocument((DATA / "brewers-conjecture.pdf").read_bytes())
    assert pdf_title(data, "Brewer's Conjecture and the Feasibility of Consistent, Available, "
                           "Partition-Tolerant Web Services") == (
        "Brewer's Conjecture and the Feasibility of Consistent, Available, "
        "Partition-Tolerant Web Services")
    # A template's title the page does not bear loses to the page's.
    assert pdf_title(data, "Proceedings Template - WORD").startswith("Brewer’s Conjecture")


def test_a_pdf_whose_every_page_is_garbage_is_skipped_without_tesseract(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "available", lambda: False)
    data = (DATA / "functional-reactive-animation.pdf").read_bytes()
    with pytest.raises(UnreadableDocumentError) as refused:
        EXTRACTORS[".pdf"](data, 1_000_000)
    assert refused.value.reason == (
        "text is not readable (broken font encoding) on 11 pages (p. 1, 2, 3, 4, 5, ...): "
        f"{ocr.INSTALL_HINT}")


@needs_tesseract
def test_a_garbage_page_is_read_by_ocr() -> None:
    data = (DATA / "functional-reactive-animation.pdf").read_bytes()
    # 100 characters: the first page is enough (each takes seconds to read).
    found = EXTRACTORS[".pdf"](data, 100)
    assert found.partial and found.missing is None
    assert found.title == "Functional Reactive Animation"
    assert found.text.startswith("Functional Reactive Animation\n\nConal Elliott")
    assert is_language(found.text)
    assert found.structure.read_by_ocr(0, len(found.text))


@pytest.mark.parametrize("path", sorted(DATA.glob("*.pdf")), ids=lambda p: p.stem)
def test_no_passage_of_a_kept_paper_is_garbage(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.chunking import split_passages

    monkeypatch.setattr(ocr, "available", lambda: False)  # what the text layer gives
    try:
        found = EXTRACTORS[".pdf"](path.read_bytes(), 1_000_000)
    except UnreadableDocumentError as refused:  # every page garbage: refused, and said why
        assert refused.reason.startswith("text is not readable (broken font encoding)")
        return
    passages = split_passages(found.text, lambda text: len(text.split()) * 4 // 3 + 2, 256,
                              structure=found.structure)
    assert passages
    assert [p.text[:80] for p in passages if not is_language(p.text)] == []
