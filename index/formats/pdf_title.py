"""A PDF's title: its metadata's when that is a title, else the largest text on its first page.

A third of the papers measured (docs/quality.md, "PDF titles and unreadable text") state no
usable /Title: "paper.dvi", "Microsoft Word - x.doc", "untitled", or none, and their first
line is an arXiv stamp, a DOI, a journal's header or the first half of a two-line title.
The title a reader sees is the first page's largest text, its lines joined; pypdfium2 gives
each character's font size.
"""

from __future__ import annotations

import ctypes
import re
from collections import Counter
from dataclasses import dataclass

from index.formats.decoding import collapse
from index.formats.language_check import is_language, measure

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
# The title's size must exceed the page's body size by this factor, or there is no title
# set apart by size (a typewritten report).
_TITLE_OVER_BODY = 1.15


@dataclass(frozen=True)
class _Line:
    text: str
    size: float  # the height of its tallest letters, in points


def pdf_title(data: bytes, metadata_title: str | None) -> str | None:
    """The title of the PDF in ``data``: its metadata title if that is one and agrees with
    the first page's largest text (or the page has none), else that text; None if neither.
    """
    # Some generators leave markup in it: "<Emphasis Type="Italic">...</Emphasis>".
    meta = collapse(re.sub(r"<[^<>]*>", "", metadata_title or ""))
    meta = meta if meta and not is_junk_metadata(meta) else ""
    lines = _first_page_lines(data)
    largest = largest_text(lines)
    if meta and largest and _overlap(meta, largest) < 0.5:
        # They disagree: metadata is often the template's or an earlier paper's, but the
        # largest text may be a logo or a series' name; the metadata stands if the page
        # has its words.
        page = _words(" ".join(line.text for line in lines))
        meta_words = _words(meta)
        return meta if len(meta_words & page) >= 0.8 * len(meta_words) else largest
    return meta or largest


def is_junk_metadata(title: str) -> bool:
    """Whether a metadata title is a file name, a tool's stamp or a placeholder."""
    if _FILE_NAME.search(title) or _TOOL_PREFIX.search(title):
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
    body = Counter(round(line.size) for line in lines for _ in line.text).most_common(1)[0][0]
    candidates = [line for line in lines if _can_be_title(line.text)]
    if not candidates:
        return None
    top = max(line.size for line in candidates)
    if top < body * _TITLE_OVER_BODY:
        return None
    start = next(i for i, line in enumerate(lines) if line in candidates and _same(line.size, top))
    parts = []
    for line in lines[start:]:
        if not _same(line.size, top) or not _can_be_title(line.text):
            break
        parts.append(line.text)
    title = _join(parts)
    return title if len(title) <= _LONGEST_TITLE else None


def _first_page_lines(data: bytes) -> list[_Line]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return []
    try:
        if len(document) == 0:
            return []
        textpage = document[0].get_textpage()
        raw = textpage.raw
        lines: list[_Line] = []
        chars: list[str] = []
        sizes: list[float] = []
        origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
        for index in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(raw, index))
            if char in "\r\n":
                _add_line(lines, chars, sizes)
                chars, sizes = [], []
                continue
            if abs(pdfium_c.FPDFText_GetCharAngle(raw, index)) > 0.1:
                continue  # turned text: the arXiv stamp up the margin, a rotated table
            chars.append(char)
            if char.isalpha():
                # The size the text is drawn at, from how far the letter rises above its
                # baseline: the font size alone is not it (many generators set 1 pt fonts
                # and scale them, Type 3 fonts scale by their own matrix), nor the box's
                # height (a "p" or "J" descends).
                _, _, _, top = textpage.get_charbox(index)
                pdfium_c.FPDFText_GetCharOrigin(raw, index, origin_x, origin_y)
                sizes.append(top - origin_y.value)
        _add_line(lines, chars, sizes)
        return lines
    finally:
        document.close()


def _add_line(lines: list[_Line], chars: list[str], sizes: list[float]) -> None:
    text = collapse("".join(chars))
    if text and sizes:
        # The tallest letters (capitals and ascenders, about 0.7 of the font size): the
        # line's size in any font, whatever letters it has; two tallest, so that one
        # accent or stray glyph does not decide it.
        tallest = sorted(sizes)[-2:]
        lines.append(_Line(text, round(min(tallest), 1)))


def _can_be_title(text: str) -> bool:
    # One short word is a logo or a heading ("BRICS", "Summary"), not a title.
    if _NOT_TITLE.search(text) or (" " not in text and len(text) < 8):
        return False
    # A title in a broken font's garbage is no title.
    found = measure(text)
    return found.junk == 0 and found.wordlike >= 0.8


def _same(size: float, top: float) -> bool:
    # Capitals rise less than ascenders: a title's last line "Services" stands 6% lower
    # than "Feasibility of" above it; authors' names are set 15% smaller and more.
    return abs(size - top) <= max(0.5, top * 0.08)


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
