"""A PDF's title: its metadata's when that is a title, else the largest text on its first page.

Of the 193 papers measured (docs/quality.md, "PDF titles and unreadable text"), most state
no usable /Title ("paper.dvi", "Microsoft Word - x.doc", "untitled", or none) and many open
with an arXiv stamp, a DOI, a journal's header or the first half of a two-line title. The
title a reader sees is the first page's largest text, its lines joined; pypdfium2 gives
each character's font size and box.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from index.formats.decoding import collapse
from index.formats.language_check import is_language, measure

# pypdfium2 is imported where first needed, as pypdf is in pdf.py.
if TYPE_CHECKING:
    from pypdfium2 import PdfDocument, PdfPage

# Metadata titles that name a file, a template or nothing.
_FILE_NAME = re.compile(r"\.(dvi|docx?|tex|pdf|ps|eps|rtf|odt|txt|indd|qxd|pages)\b", re.I)
_TOOL_PREFIX = re.compile(r"^(microsoft (word|powerpoint) - |untitled\b)", re.I)
_PLACEHOLDERS = frozenset({"title", "untitled", "no title", "paper", "document", "main",
                           "slides", "article", "manuscript", "draft", "template"})
# First-page lines that are not the title, however large: stamps, identifiers, headers.
_NOT_TITLE = re.compile(
    r"arxiv:|\bdoi\b|doi\.org|https?://|www\.|©|\(c\)|copyright|\bpreprint\b|\bissn\b|"
    r"\bvol(ume)?\.? ?\d|\bproceedings\b|\bjournal of\b|\bconference\b|\bsubmitted\b|"
    r"\baccepted\b|\bpublished\b|^[\d\s.,:;-]*$|^session \d|"
    r"^\s*(\d+\.?\s*)?(abstract|summary|contents|introduction|preface)\s*$",
    re.I)
# A size-ranked "title" longer than this is body text set in one size throughout.
_LONGEST_TITLE = 250
# The title's size must exceed the body text's by this factor, or there is no title set
# apart by size (a typewritten report, a scan's text layer).
_TITLE_OVER_BODY = 1.08
# A first page with fewer characters than this is a title page.
_TITLE_PAGE_CHARS = 400


@dataclass(frozen=True)
class _Line:
    text: str
    size: float  # as _first_page_lines measures it


def pdf_title(document: PdfDocument, metadata_title: str | None) -> str | None:
    """The title of the PDF: its metadata title if that is one and agrees with the first
    page's largest text (or the page has none), else that text; None if neither.
    """
    # Some generators leave markup in it: "<Emphasis Type="Italic">...</Emphasis>".
    meta = collapse(re.sub(r"<[^<>]*>", "", metadata_title or ""))
    meta = meta if meta and not is_junk_metadata(meta) else ""
    lines = _first_page_lines(document)
    largest = largest_text(lines)
    if meta and largest:
        meta_words, largest_words = _words(meta), _words(largest)
        if len(meta_words & largest_words) >= 0.8 * len(meta_words):
            # They agree. Metadata is the cleaner text (no broken ligatures), unless it is
            # the title's first part ("Macaroons: Cookies with Contextual Caveats").
            return largest if len(largest_words) > len(meta_words) + 1 else meta
        if _overlap(meta, largest) < 0.5:
            # They disagree: metadata is often the template's or an earlier paper's, but
            # the largest text may be a logo or a series' name; the metadata stands if the
            # page has its words.
            page = _words(" ".join(line.text for line in lines))
            return meta if len(meta_words & page) >= 0.8 * len(meta_words) else largest
    return meta or largest


def is_junk_metadata(title: str) -> bool:
    """Whether a metadata title is a file name, a tool's stamp or a placeholder."""
    if _FILE_NAME.search(title) or _TOOL_PREFIX.search(title):
        return True
    # A venue, a DOI or a stamp ("Sparse partitions - Foundations of Computer Science, 1990.
    # Proceedings., 31st Annual Symposium on"): the page's largest text is the better bet.
    if _NOT_TITLE.search(title):
        return True
    if title.casefold().strip(" .:") in _PLACEHOLDERS:
        return True
    if sum(c.isalpha() for c in title) < 4:
        return True
    found = measure(title)
    if found.junk > 0 or found.wordlike < 0.8:  # a broken encoding's, as the text can be
        return True
    # Glyph names ("/BY /D6/CC/CX"), as a broken encoding writes them there.
    words = title.split()
    if sum(word.startswith("/") for word in words) > len(words) / 2:
        return True
    # One token with underscores or digits ("CR_final", "sosp07-paper12") is a file's name.
    return " " not in title and re.search(r"[_\d]", title) is not None


def largest_text(lines: list[_Line]) -> str | None:
    """The largest text among a first page's ``lines`` that can be a title, its consecutive
    lines joined; None if the page sets no text apart by size, or is not language."""
    if not lines or not is_language("\n".join(line.text for line in lines)):
        return None
    candidates = [line for line in lines if _can_be_title(line.text)]
    if not candidates:
        return None
    top = max(line.size for line in candidates)
    if not _set_apart(lines, top):
        return None
    start = next(i for i, line in enumerate(lines) if line in candidates and _same(line.size, top))
    parts = []
    for line in lines[start:]:
        # A title's last line may be one short word ("BODIES").
        if not _same(line.size, top) or _NOT_TITLE.search(line.text):
            break
        parts.append(line.text)
    title = _join(parts)
    return title if len(title) <= _LONGEST_TITLE else None


def _set_apart(lines: list[_Line], top: float) -> bool:
    """Whether text of size ``top`` stands out from the page's body text. On a title page
    that holds little else (a book's), the title can be most of the page's characters: there
    it is compared with the rest."""
    sizes = Counter(round(line.size, 1) for line in lines for _ in line.text)
    body = sizes.most_common(1)[0][0]
    if _same(body, top):
        if sizes.total() >= _TITLE_PAGE_CHARS:
            return False
        rest = Counter(round(line.size, 1) for line in lines if not _same(line.size, top)
                       for _ in line.text)
        if not rest:
            return False
        body = rest.most_common(1)[0][0]
    return top >= body * _TITLE_OVER_BODY


def _first_page_lines(document: PdfDocument) -> list[_Line]:
    """The first page's lines (turned text left out), each with its size: the font size its
    letters have, or, on a page whose letters all have one font size (many generators set
    1 pt fonts and scale them; Type 3 fonts scale by their own matrix), how far its tallest
    letters rise above the baseline."""
    import pypdfium2 as pdfium

    if len(document) == 0:
        return []
    try:
        page = document[0]
        try:
            found = _measured_lines(page)
        finally:
            page.close()
    except pdfium.PdfiumError:  # a page pypdfium2 cannot read has no title to give
        return []
    found = [(collapse(text), sizes, heights) for text, sizes, heights in found
             if collapse(text) and sizes]
    by_font = len({max(set(sizes), key=sizes.count) for _, sizes, _ in found}) > 1
    return [_Line(text, max(set(sizes), key=sizes.count) if by_font else _height(heights))
            for text, sizes, heights in found]


def _measured_lines(page: PdfPage) -> list[tuple[str, list[float], list[float]]]:
    """Each line's text, its letters' font sizes as drawn and their heights above the
    baseline."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    raw = textpage.raw
    found: list[tuple[str, list[float], list[float]]] = [("", [], [])]
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    matrix = pdfium_c.FS_MATRIX()
    for index in range(textpage.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(raw, index))
        if char in "\r\n":
            found.append(("", [], []))
            continue
        if abs(pdfium_c.FPDFText_GetCharAngle(raw, index)) > 0.1:
            continue  # turned text: the arXiv stamp up the margin, a rotated table
        text, font_sizes, heights = found[-1]
        found[-1] = (text + char, font_sizes, heights)
        if char.isalpha():
            # The font size as drawn: scaled by the character's matrix (a figure's labels
            # are set large and drawn small).
            pdfium_c.FPDFText_GetMatrix(raw, index, matrix)
            scale = math.hypot(matrix.c, matrix.d)
            font_sizes.append(round(pdfium_c.FPDFText_GetFontSize(raw, index) * scale, 1))
            _, _, _, top = textpage.get_charbox(index)
            pdfium_c.FPDFText_GetCharOrigin(raw, index, origin_x, origin_y)
            heights.append(top - origin_y.value)
    return found


def _height(heights: list[float]) -> float:
    """A line's size from its letters' heights above the baseline: the tallest (capitals
    and ascenders, about 0.7 of the font size). The second tallest, so that a drop capital
    or a stray glyph does not decide it; a line of one capital and small letters
    ("Process") then measures low, which is rare in a title."""
    return round(min(sorted(heights)[-2:]), 1)


def _can_be_title(text: str) -> bool:
    # One short word is a logo or a heading ("BRICS", "Summary"), not a title.
    if _NOT_TITLE.search(text) or (" " not in text and len(text) < 8):
        return False
    # A title in a broken font's garbage is no title.
    found = measure(text)
    return found.junk == 0 and found.wordlike >= 0.8


def _same(size: float, top: float) -> bool:
    # Capitals rise less than ascenders: a title's last line "Services" stands 6% lower
    # than "Feasibility of" above it; a cover page's "Citation" line, 8%.
    return abs(size - top) <= max(0.5, top * 0.065)


def _join(parts: list[str]) -> str:
    """Lines joined into one title, a word broken at a line's end rejoined."""
    title = ""
    for part in parts:
        if title.endswith(("-", "\u00ad", "\u2010")) and part[:1].islower():
            title = title.rstrip("-\u00ad\u2010") + part
        else:
            title = f"{title} {part}" if title else part
    return collapse(title.replace("\u00ad", "").replace("\x02", ""))


def _overlap(a: str, b: str) -> float:
    """The share of the shorter one's words that the other has."""
    words_a, words_b = _words(a), _words(b)
    if not words_a or not words_b:
        return 0.0
    return len(words_a & words_b) / min(len(words_a), len(words_b))


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold().replace("'", "").replace("’", "")))
