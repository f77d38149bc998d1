"""A PDF's text lines made into paragraphs: lines joined, hyphenated words rejoined, running
headers, footers and page numbers dropped.

Pure functions over the lines of each page, with their positions in PDF points (y grows
upwards), as the PDF reader (index/formats/pdf.py) finds them: a reader that knows a page only
as lines cuts passages mid-sentence and leaves "con- venient" and the page's header in them.
"""

from __future__ import annotations

import bisect
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass

# A word hyphenated at a line end ends the line with a soft hyphen (U+00AD: what the reader
# makes of PDFium's own marks) or a plain one.
_HYPHENS = "\xad-"
_WORD_BEFORE_HYPHEN = re.compile(rf"(\w+)[{_HYPHENS}]$")
_FIRST_WORD = re.compile(r"\w+")
_HYPHENATED = re.compile(r"\b(\w+)-(\w+)\b")
_WORDS = re.compile(r"\w+")
# Ends a sentence, or a lead-in: a line ending so and short of its column ends a paragraph.
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
_DIGITS = re.compile(r"\d+")
# A line that is only a page number: "12", "- 12 -", "Page 3", "Page 3 of 10", "iv"; dropped
# at the top or bottom of a page (in the middle, "3" may be a table's cell).
_PAGE_NUMBER = re.compile(r"^[-–—(\[\s]*(page\s*)?(\d+|[ivxlc]{1,6})(\s*(of|/)\s*\d+)?[-–—)\]\s]*$",
                          re.IGNORECASE)
_LIGATURES = re.compile("[\ufb00-\ufb06]")
# A running header or footer is a short line: a page-long line repeated is content.
_MAX_RUNNING_CHARS = 120
# A page's or column's first paragraph runs on from the last only if it is more than a
# label (a figure's "lease M3"): this many words or more.
_MIN_RUN_ON_WORDS = 8
# How many paragraphs (a figure's labels and caption) may stand between a paragraph and its rest.
_MAX_CUT_BY = 4
# How many lines at the top and at the bottom of a page may be a running header or footer.
_RUNNING_DEPTH = 2


@dataclass(frozen=True)
class Line:
    text: str
    left: float
    bottom: float
    right: float
    top: float

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, 1.0)


@dataclass(frozen=True)
class PageText:
    paragraphs: list[str]
    # What joins the first paragraph to the previous page's last one ("" or "-" for a word
    # hyphenated across the pages, else " "); None if it starts a paragraph.
    joint: str | None


def lines_of(pieces: list[Line]) -> list[Line]:
    """Pieces of text (in reading order) made into lines: a piece that starts right of the
    last one on the same baseline (a word in another font, a superscript) is on its line."""
    lines: list[Line] = []
    for piece in pieces:
        if not piece.text.strip():
            continue
        last = lines[-1] if lines else None
        middle = (piece.bottom + piece.top) / 2
        if last and last.bottom <= middle <= last.top and piece.left >= last.right - 1:
            # Runs drawn apart without a space between them are separate words.
            gap = piece.left - last.right > 0.15 * last.height
            spaced = last.text.endswith(" ") or piece.text[0].isspace()
            lines[-1] = Line(last.text + (" " if gap and not spaced else "") + piece.text,
                             last.left, min(last.bottom, piece.bottom),
                             max(last.right, piece.right), max(last.top, piece.top))
        else:
            lines.append(piece)
    return [Line(_letters(line.text).strip(), line.left, line.bottom, line.right, line.top)
            for line in lines]


def _letters(text: str) -> str:
    """Ligatures (U+FB00-FB06, "ﬁ") as their letters, so "significant" is found as typed."""
    return _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def paragraphs(pages: list[list[Line]]) -> list[PageText]:
    """Each page's paragraphs, running headers and footers left out; a paragraph that runs on
    from one page to the next is cut at the page, and the next page says how it joins."""
    running = _running_lines(pages)
    vocabulary, compounds = _words([line.text for page in pages for line in page])
    result: list[PageText] = []
    open_end = False  # the last page ended mid-paragraph
    for page in pages:
        edge = _edge(page)
        kept = [line for i, line in enumerate(page)
                if not (i in edge and (_PAGE_NUMBER.match(line.text)
                                       or _has_edges(page) and _running_key(line.text) in running))]
        ends = _ends_paragraphs(kept)
        groups = _page_paragraphs(kept, ends)
        texts = [_joined([line.text for line in group], vocabulary, compounds)
                 for group in groups]
        joint = None
        last = next((earlier for earlier in reversed(result) if earlier.paragraphs), None)
        # A page that opens in lowercase, and with more than a label, runs on from the last.
        if (open_end and last and texts and texts[0][:1].islower()
                and len(texts[0].split()) >= _MIN_RUN_ON_WORDS):
            last.paragraphs[-1], joint = _joint(last.paragraphs[-1], texts[0], vocabulary,
                                                compounds)
        result.append(PageText(texts, joint))
        open_end = bool(groups) and not ends[-1]
    # Soft hyphens within a line are not the text's.
    return [PageText([text.replace("\xad", "") for text in page.paragraphs], page.joint)
            for page in result]


def _page_paragraphs(lines: list[Line], ends: list[bool]) -> list[list[Line]]:
    """A page's lines grouped into paragraphs; ``ends``: whether each line ends one as its
    length says (``_ends_paragraphs``)."""
    if not lines:
        return []
    spacing = _line_spacing(lines)
    groups: list[list[Line]] = [[lines[0]]]
    for i in range(1, len(lines)):
        previous, line = lines[i - 1], lines[i]
        drop = previous.bottom - line.bottom
        # Further down than the line spacing: a blank line's worth between them, in the
        # page's usual lines as in a title's larger ones. (Further up is the next column,
        # which a paragraph runs on into.)
        gap = drop > max(1.5 * spacing, 1.6 * max(previous.height, line.height))
        same_column = abs(line.left - previous.left) < 4 * line.height and drop > 0
        # A first line indented after a sentence's end, the next one back at the margin: a new
        # paragraph (a hanging indent, as references have, keeps the next line indented too).
        following = lines[i + 1] if i + 1 < len(lines) else None
        back = following is None or abs(following.left - previous.left) < 0.5 * line.height
        indented = (same_column and line.left - previous.left > 0.8 * line.height
                    and bool(_SENTENCE_END.search(previous.text)) and back)
        if gap or indented or ends[i - 1]:
            groups.append([line])
        else:
            groups[-1].append(line)
    return _rejoined(groups, {id(line) for line, end in zip(lines, ends, strict=True) if end})


def _rejoined(groups: list[list[Line]], ending: set[int]) -> list[list[Line]]:
    """The paragraphs with each one that a figure, a table or a footnote cut (drawn between
    two columns) whole again: its rest, opening in lowercase a few paragraphs on, joins it."""
    kept: list[list[Line]] = []
    open_at = None  # where in ``kept`` the last paragraph left open is
    for group in groups:
        long = sum(len(line.text.split()) for line in group) >= _MIN_RUN_ON_WORDS
        ends = id(group[-1]) in ending
        if (open_at is not None and long and group[0].text[:1].islower()
                and len(kept) - open_at <= _MAX_CUT_BY):
            kept[open_at].extend(group)
            open_at = None if ends else open_at
            continue
        kept.append(group)
        if long and not ends:
            open_at = len(kept) - 1
    return kept


def _line_spacing(lines: list[Line]) -> float:
    """The usual distance between the baselines of one paragraph's lines on this page."""
    drops = [a.bottom - b.bottom for a, b in zip(lines, lines[1:], strict=False)
             if 0.5 * b.height < a.bottom - b.bottom < 3 * b.height]
    return statistics.median(drops) if drops else 1.2 * statistics.median(
        line.height for line in lines)


def _ends_paragraphs(lines: list[Line]) -> list[bool]:
    """Whether each line is a paragraph's last: clearly short of its column's right edge, and
    ending a sentence; or far short of it (a heading, a caption)."""
    if not lines:
        return []
    # A line's column: the lines that start near where it starts; its right edge, where most
    # of them end.
    reach = 3 * statistics.median(line.height for line in lines)
    by_left = sorted(lines, key=lambda line: line.left)
    lefts = [line.left for line in by_left]
    rights: dict[int, float] = {}
    ends = []
    for line in lines:
        key = round(line.left)
        if key not in rights:
            column = sorted(other.right for other in by_left[
                bisect.bisect_left(lefts, line.left - reach):
                bisect.bisect_right(lefts, line.left + reach)])
            rights[key] = column[min(len(column) - 1, 3 * len(column) // 4)]
        short_by = (rights[key] - line.right) / max(rights[key] - line.left, 1.0)
        ends.append(line.text[-1:] not in _HYPHENS and (
            (short_by > 0.1 and bool(_SENTENCE_END.search(line.text))) or short_by > 0.4))
    return ends


def _words(lines: list[str]) -> tuple[set[str], set[str]]:
    """The document's words and its hyphenated compounds ("well-known"), lowercased, whole on
    one line: what a word split at a line end is checked against."""
    vocabulary: set[str] = set()
    compounds: set[str] = set()
    for text in lines:
        body = text[:-1] if text[-1:] in _HYPHENS else text
        vocabulary.update(word.lower() for word in _WORDS.findall(body))
        compounds.update(f"{a}-{b}".lower() for a, b in _HYPHENATED.findall(body))
    return vocabulary, compounds


def _joined(lines: list[str], vocabulary: set[str], compounds: set[str]) -> str:
    """A paragraph's lines on one line, each joined as ``_joint`` says; a hyphen mark at its
    end is left for the next page's text to be joined by."""
    text = lines[0]
    for line in lines[1:]:
        text, joint = _joint(text, line, vocabulary, compounds)
        text += joint + line
    return text


def _joint(text: str, line: str, vocabulary: set[str], compounds: set[str]) -> tuple[str, str]:
    """``text`` without the hyphen mark it ends with, if any, and what joins ``line`` to it:
    a space; nothing, for a word hyphenated at the line end; or a hyphen, where the document
    writes the word with its hyphen ("well-known") and not without, or the parts are not
    a word's ("TCP-IP", "2-phase")."""
    if text[-1:] not in _HYPHENS:
        return text, " "
    before = _WORD_BEFORE_HYPHEN.search(text)
    after = _FIRST_WORD.match(line)
    if not (before and after):
        return text[:-1], "-"
    head, tail = before.group(1), after.group()
    compound = f"{head}-{tail}".lower()
    keep = (compound in compounds and (head + tail).lower() not in vocabulary) or not (
        tail[0].islower() and head[-1].isalpha())
    return text[:-1], "-" if keep else ""


def _edge(page: list[Line]) -> set[int]:
    """The indexes of the page's top and bottom lines, where running headers and footers and
    page numbers stand (a PDF may draw them first, last or between its columns)."""
    by_height = sorted(range(len(page)), key=lambda i: page[i].top)
    return {*by_height[:_RUNNING_DEPTH], *by_height[-_RUNNING_DEPTH:]}


def _has_edges(page: list[Line]) -> bool:
    """Whether the page has more lines than its top and bottom: a page of a few lines (a
    slide's) may repeat them as its text."""
    return len(page) > 2 * _RUNNING_DEPTH


def _running_key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).lower())


def _running_lines(pages: list[list[Line]]) -> set[str]:
    """The lines (digits as "#") that stand in the top or bottom lines of at least half the
    pages, and of 3 or more: running headers and footers ("Paxos Made Simple", "Page # of #")."""
    counts: Counter[str] = Counter()
    for page in filter(_has_edges, pages):
        counts.update({_running_key(page[i].text) for i in _edge(page)
                       if len(page[i].text) <= _MAX_RUNNING_CHARS})
    needed = max(3, len(pages) / 2)
    return {key for key, count in counts.items() if count >= needed}

