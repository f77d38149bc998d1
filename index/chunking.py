"""Splitting a document's text into passages: paragraphs that fit the model's token limit.

A passage never spans two sections (a heading starts one) or two parts of a web page (the
article, each reader comment; furniture becomes no passage), and knows its section's heading
trail, its page numbers, its part and whether OCR read it. Paragraphs are separated by blank
lines; in a text without any blank line, each line is a paragraph; a code block, a list or a
table is one. Fragments too short to mean anything alone (an author line), headings, the
title line and short lead-ins ending in ":" are merged into the paragraph they introduce, and
a paragraph that repeats an earlier one (a repeated title) is dropped unless a heading
introduces it. Under a heading, the article's paragraphs are packed into passages up to the
token limit, cut only between paragraphs (and at pages or slides); flat text and comments
keep a passage a paragraph (with its fragments). A paragraph over the token limit is cut at
line breaks, then at sentence ends (with ``overlap_sentences`` sentences repeated at the
start of the next passage), then between words, so the model never truncates a passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from index.formats.structure import Structure

# Boundary kinds, coarsest first: the order in which a too-long span is cut.
_PARAGRAPH, _LINE, _SENTENCE, _WORD, _CHARACTER = range(5)

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_LINE_BREAK = re.compile(r"\n")
# A sentence ends at . ! ? or … (plus closing quotes/brackets) before space and a capital,
# digit or opening quote. Linear on any input: a match may only start a run of end marks
# (the lookbehind), and possessive quantifiers never give back what they took; without
# both, a table-of-contents line of 120,000 dots took minutes.
_SENTENCE_END = re.compile(
    r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s++[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])"
)
# Longer than any abbreviation below: how far back a sentence end looks for its last word.
_LAST_WORD_WINDOW = 12
_WHITESPACE = re.compile(r"\s+")
_WORD_CHARACTER = re.compile(r"\w")
# Words whose trailing period is not a sentence end.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e u.s u.k u.n no gen col lt sgt capt rep sen "
    "gov pres inc ltd co corp dept fig al approx est jan feb mar apr jun jul aug sep sept "
    "oct nov dec".split()
)


# A paragraph ending in ":" this short introduces the next one, and joins it.
_MAX_LEAD_IN_WORDS = 40

# Characters a passage may hold per token of its limit. Real text runs 4 to 8 characters a
# word piece; this binds only where the tokenizer sees one token in a huge run of characters
# (a 1 MB "word" is a single unknown token), which would make a 1 MB passage.
MAX_CHARACTERS_PER_TOKEN = 16


@dataclass(frozen=True)
class Passage:
    start: int  # offset of the first character in the document's text
    end: int  # offset one past the last character
    text: str  # text[start:end] with every run of whitespace made one space
    section: tuple[str, ...] = ()  # heading trail, top first; () outside any section
    pages: tuple[int, int] | None = None  # first and last page (or slide); None if unpaged
    ocr: bool = False  # some of its text was read from an image by OCR
    part: str = "article"  # or "comment": of a web page's reader comments
    author: str | None = None  # a comment's author, when the page names it


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    boundary: int  # the kind of boundary that precedes this span


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends."""
    return " ".join(text.split())


def split_passages(
    text: str,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap_sentences: int = 1,
    min_words: int = 5,
    structure: Structure = Structure(),  # noqa: B008 (immutable)
    prefix: Callable[[tuple[str, ...]], str] = lambda section: "",
    drop_repeats: bool = True,
) -> list[Passage]:
    """Split ``text`` into passages of at most ``max_tokens`` tokens, in document order.

    Every passage also holds at most ``max_tokens * MAX_CHARACTERS_PER_TOKEN`` characters.

    Args:
        count_tokens: tokens the model sees for a passage text (special tokens included).
        max_tokens: the limit for ``count_tokens`` of every passage.
        overlap_sentences: sentences repeated when a paragraph is cut between sentences.
        min_words: paragraphs with fewer words are merged into a neighbour.
        structure: the text's headings, code blocks and pages.
        prefix: what is embedded before each passage of a section (by its heading trail),
            counted in its tokens.
        drop_repeats: drop a paragraph that repeats an earlier one (a document's repeated
            title); False keeps every paragraph (a pasted query is read whole).
    """
    max_characters = max_tokens * MAX_CHARACTERS_PER_TOKEN

    separator = _BLANK_LINE if _BLANK_LINE.search(text) else _LINE_BREAK
    headings = {b.start for b in structure.blocks if b.kind in ("heading", "title")}
    whole = _whole_blocks(text, structure)
    seen: set[str] = set()
    passages: list[Passage] = []
    for region_start, region_end, trail, part in structure.regions(text):
        if part is not None and part.kind == "furniture":
            continue
        kind, author = (part.kind, part.author) if part else ("article", None)
        before = prefix(trail)

        def fits(span_text: str, before: str = before) -> bool:
            # Length first: it is free, and it spares the tokenizer a huge run.
            return (len(span_text) <= max_characters
                    and count_tokens(before + span_text) <= max_tokens)

        paragraphs = _paragraphs(text, region_start, region_end, separator, whole)
        groups = _paragraph_groups(text, paragraphs, min_words, headings,
                                   seen if drop_repeats else None)
        if trail and kind == "article":
            # A section's paragraphs share passages: one topic, written to be read together.
            # A passage per paragraph left its answers among their neighbours (docs/quality.md,
            # "Packing a section's paragraphs"). Flat text and comments keep one a paragraph.
            groups = _joined(text, groups, structure)
        for group in groups:
            units: list[_Span] = []
            for span in group:
                units.extend(_fitting_units(text, span, fits))
            for first, last in _pack(text, units, fits, overlap_sentences):
                start, end = units[first].start, units[last].end
                passages.append(Passage(
                    start, end, normalize_whitespace(text[start:end]), trail,
                    structure.pages_of(start, end), structure.read_by_ocr(start, end),
                    kind, author,
                ))
    return passages


def _joined(text: str, groups: list[list[_Span]], structure: Structure) -> list[list[_Span]]:
    """Runs of groups on one page (or slide) with nothing dropped between them, each as one
    group: its paragraphs are then packed into passages up to the token limit, cut only
    between them."""
    joined: list[list[_Span]] = []
    for group in groups:
        last = joined[-1][-1] if joined else None
        if (last and not text[last.end : group[0].start].strip()
                and structure.pages_of(last.start, last.end)
                == structure.pages_of(group[0].start, group[0].end)):
            joined[-1].extend(group)
        else:
            joined.append(list(group))
    return joined


def _whole_blocks(text: str, structure: Structure) -> list[tuple[int, int]]:
    """(start, end) of what is one paragraph, blank lines and all: each code block, each list
    (a run of items) and each table (a run of rows). Cut only if it does not fit, at lines."""
    whole: list[tuple[int, int, str]] = []
    for block in structure.blocks:
        if block.kind not in ("code", "item", "row"):
            continue
        last = whole[-1] if whole else None
        if (last and block.kind != "code" and last[2] == block.kind
                and not text[last[1] : block.start].strip()):
            whole[-1] = (last[0], block.end, block.kind)
        else:
            whole.append((block.start, block.end, block.kind))
    return [(start, end) for start, end, _ in whole]


def _paragraphs(
    text: str, start: int, end: int, separator: re.Pattern[str], whole: list[tuple[int, int]]
) -> list[_Span]:
    """The paragraphs of text[start:end], each of ``whole`` one paragraph."""
    paragraphs: list[_Span] = []
    cursor = start
    for block_start, block_end in whole:
        if start <= block_start < end:
            paragraphs += _split(text, cursor, block_start, separator, _PARAGRAPH)
            paragraphs += _trimmed(text, block_start, min(block_end, end), _PARAGRAPH)
            cursor = min(block_end, end)
    return paragraphs + _split(text, cursor, end, separator, _PARAGRAPH)


def _paragraph_groups(
    text: str, paragraphs: list[_Span], min_words: int, headings: set[int],
    seen: set[str] | None,
) -> list[list[_Span]]:
    """Paragraphs with repeats (of any in ``seen``; none if it is None) dropped and fragments
    merged; each group becomes passages. A heading is always a fragment: it leads into what
    follows it."""

    kept: list[tuple[int, _Span, str, bool]] = []  # (position, span, normalised text, fragment)
    for position, span in enumerate(paragraphs):
        normalised = normalize_whitespace(text[span.start : span.end])
        fragment = (len(normalised.split()) < min_words or span.start in headings
                    or not _WORD_CHARACTER.search(normalised) or _is_lead_in(normalised))
        # Any repeat of a full paragraph goes, unless a heading right before introduces it (an
        # API's list of parameters, as its neighbours': dropped, it would leave the heading
        # alone); a fragment (an author line, "Reply") repeats legitimately, so only a run of
        # the same fragment (a doubled title) loses its first: the last leads into what follows.
        headed = bool(kept) and kept[-1][0] == position - 1 and kept[-1][1].start in headings
        if seen is not None:
            if normalised in seen and not fragment and not headed:
                continue
            if kept and kept[-1][2] == normalised and fragment:
                kept.pop()
            seen.add(normalised)
        kept.append((position, span, normalised, fragment))

    # Each paragraph takes the fragments just before it (an author line before a comment);
    # fragments with no paragraph after them join the one before. Only paragraphs with
    # nothing dropped between them may share a passage: its offsets must cover exactly its text.
    groups: list[_Group] = []
    for position, span, _, fragment in kept:
        last = groups[-1] if groups else None
        if last and last.last + 1 == position and not last.has_paragraph:
            last.spans.append(span)
            last.last = position
            last.has_paragraph |= not fragment
            continue
        _fold_fragment_run(groups)
        groups.append(_Group([span], position, position, not fragment))
    _fold_fragment_run(groups)
    return [g.spans for g in groups]


def _is_lead_in(paragraph: str) -> bool:
    """A short paragraph that introduces the next ("There is a price for it:")."""
    return paragraph.endswith(":") and len(paragraph.split()) <= _MAX_LEAD_IN_WORDS


@dataclass
class _Group:
    spans: list[_Span]
    first: int  # position of the first paragraph in the document
    last: int
    has_paragraph: bool  # False while it holds only fragments


def _fold_fragment_run(groups: list[_Group]) -> None:
    """Join a closed run of fragments onto the paragraph right before it, if any."""
    if len(groups) < 2 or groups[-1].has_paragraph or groups[-2].last + 1 != groups[-1].first:
        return
    run = groups.pop()
    groups[-1].spans.extend(run.spans)
    groups[-1].last = run.last


def _fitting_units(
    text: str, span: _Span, fits: Callable[[str], bool], cut_at: int = _PARAGRAPH
) -> list[_Span]:
    """``span`` itself if it fits, else its pieces cut at boundaries finer than ``cut_at``."""
    if fits(normalize_whitespace(text[span.start : span.end])):
        return [span]
    for boundary in (_LINE, _SENTENCE, _WORD):
        if boundary <= cut_at:
            continue
        if boundary == _SENTENCE:
            pieces = _sentences(text, span)
        else:
            pattern = _LINE_BREAK if boundary == _LINE else _WHITESPACE
            pieces = _split(text, span.start, span.end, pattern, boundary)
        if len(pieces) > 1:
            # The first piece keeps the boundary that preceded the whole span.
            pieces[0] = _Span(pieces[0].start, pieces[0].end, span.boundary)
            return [
                unit
                for piece in pieces
                for unit in _fitting_units(text, piece, fits, boundary)
            ]
    # One unbreakable run of characters (a huge URL): halve it until the pieces fit.
    middle = (span.start + span.end) // 2
    halves = [_Span(span.start, middle, span.boundary), _Span(middle, span.end, _CHARACTER)]
    return [
        unit
        for half in halves
        for unit in _fitting_units(text, half, fits, _CHARACTER)
    ]


def _split(text: str, start: int, end: int, pattern: re.Pattern[str], boundary: int) -> list[_Span]:
    """The non-blank stretches of text[start:end] between matches of ``pattern``, trimmed."""
    spans: list[_Span] = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        spans.extend(_trimmed(text, cursor, match.start(), boundary))
        cursor = match.end()
    spans.extend(_trimmed(text, cursor, end, boundary))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, in order, by the rules that cut passages:
    whitespace around a sentence is left out, and an abbreviation's or an initial's period
    ends none."""
    return [(s.start, s.end) for s in _sentences(text, _Span(0, len(text), _PARAGRAPH))]


def _sentences(text: str, span: _Span) -> list[_Span]:
    spans: list[_Span] = []
    cursor = span.start
    for match in _SENTENCE_END.finditer(text, span.start, span.end):
        # A bounded window, not all the text since the last cut: after a run of skipped
        # initials ("A. B. C. ...") that would be quadratic.
        window = text[max(cursor, match.start() - _LAST_WORD_WINDOW) : match.start() + 1]
        last_word = window.rsplit(None, 1)[-1].rstrip(".").lower()
        # "U.S. State", "George W. Bush": a period after an abbreviation or an initial.
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        spans.extend(_trimmed(text, cursor, match.end(), _SENTENCE))
        cursor = match.end()
    spans.extend(_trimmed(text, cursor, span.end, _SENTENCE))
    return spans


def _trimmed(text: str, start: int, end: int, boundary: int) -> list[_Span]:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return []
    offset = start + (len(piece) - len(piece.lstrip()))
    return [_Span(offset, offset + len(stripped), boundary)]


def _pack(
    text: str, units: list[_Span], fits: Callable[[str], bool], overlap_sentences: int
) -> list[tuple[int, int]]:
    """Greedily join consecutive units into passages; returns (first, last) unit indexes."""
    passages: list[tuple[int, int]] = []
    first = 0
    for i in range(1, len(units)):
        if fits(normalize_whitespace(text[units[first].start : units[i].end])):
            continue
        passages.append((first, i - 1))
        first = i
        if units[i].boundary != _SENTENCE:
            continue
        # Cut between sentences: start the next passage with the last sentences of this one,
        # as many as fit, so a sentence that needs its predecessor keeps it.
        for back in range(min(overlap_sentences, i - passages[-1][0] - 1), 0, -1):
            candidate = i - back
            overlap = units[candidate : i + 1]
            if all(u.boundary == _SENTENCE for u in overlap[1:]) and fits(
                normalize_whitespace(text[units[candidate].start : units[i].end])
            ):
                first = candidate
                break
    if units:
        passages.append((first, len(units) - 1))
    return passages
