"""Plain text (.txt): the text as written; its title as ``index.titles.text_title`` finds it,
and, in text saved from a web page, its comments and furniture as ``page_parts`` finds them,
and the article's date and author as its byline lines state them."""

from __future__ import annotations

import re
import warnings
from datetime import datetime

from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted
from index.formats.page_parts import page_parts, text_lines, with_furniture
from index.formats.structure import Block, Part, Structure
from index.titles import text_title

# How many lines from the top the title line may stand at (after notices and a site name).
_TITLE_LINES = 10
# The longest line above a saved page's title that is still its masthead (a site's name, a
# menu, a tagline) rather than the article's text.
_MASTHEAD_WORDS = 8
# A dateline of the article ("Originally posted Fri Jul 16th, 2004 at 07:02 PM",
# "Published: 3 March 2019"); "Updated" is left out, as it is not when it was published.
_DATELINE = re.compile(r"(?:originally\s+|first\s+)?(?:posted|published|date)(?:\s+on)?"
                       r"\s*[:\-–—]?\s+(?P<date>.{6,60})", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# 03/04/2019 is March or April depending on where it was written: not taken.
_AMBIGUOUS = re.compile(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.]\d{2,4}\b")
# A byline at the top: "By Jane Doe", "By Jane Doe and John Roe".
_BYLINE = re.compile(r"[Bb]y\s+(?P<name>[A-Z][\w.'’-]*(?:,?\s+(?:and\s+)?[A-Z][\w.'’-]*){0,5})")


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    title = text_title(text)
    titles = title_lines(text, title)
    parts = page_parts(text)
    if parts:  # a page saved from the web: what stands above its title is the site's
        parts = with_furniture(text, parts, masthead(text, titles, parts))
    lines = _article_lines(text, parts)
    return Extracted(text, title, structure=Structure(blocks=titles, parts=parts),
                     date=stated_date(lines), author=stated_author(lines))


def masthead(text: str, titles: tuple[Block, ...], parts: tuple[Part, ...]
             ) -> list[tuple[int, int]]:
    """The lines above the first of ``titles`` that no part holds yet (a site's name, a
    tagline), as (start, end) spans; none if one of them is long enough to be the article's
    own text."""
    if not titles:
        return []
    held = [(part.start, part.end) for part in parts]
    lines = [(start, end) for start, end in text_lines(text[: titles[0].start])
             if not any(first <= start and end <= last for first, last in held)]
    if any(len(text[start:end].split()) > _MASTHEAD_WORDS for start, end in lines):
        return []
    return lines


def stated_date(lines: list[str]) -> str | None:
    """The date (YYYY-MM-DD) of the first dateline among the article's ``lines``; None if
    it has none or its date is not a whole one (day, month and year)."""
    for line in lines:
        found = _DATELINE.fullmatch(line)
        if found:
            return _full_date(found["date"])
    return None


def stated_author(lines: list[str]) -> str | None:
    """The name of a "By NAME" line among the article's first ``lines``, or None."""
    for line in lines[:_TITLE_LINES]:
        found = _BYLINE.fullmatch(line)
        if found:
            return found["name"]
    return None


def _article_lines(text: str, parts: tuple[Part, ...]) -> list[str]:
    """The text's lines, whitespace collapsed, up to its first comment."""
    end = min((part.start for part in parts if part.kind == "comment"), default=len(text))
    return [collapse(line) for line in text[:end].split("\n") if line.strip()]


def _full_date(phrase: str) -> str | None:
    """``phrase``'s date if it states day, month and year unambiguously: the words after the
    date (a time, a zone) are dropped until what is left reads as one."""
    from dateutil import parser  # only for a text with a dateline

    ambiguous = _AMBIGUOUS.search(phrase)
    if not _YEAR.search(phrase) or (ambiguous and ambiguous["a"] != ambiguous["b"]
                                    and max(int(ambiguous["a"]), int(ambiguous["b"])) <= 12):
        return None
    words = phrase.split()
    while words:
        try:
            with warnings.catch_warnings():  # unknown zones ("CST") are ignored: a date is kept
                warnings.simplefilter("ignore")
                # Two defaults: a part the phrase does not state differs between them.
                one = parser.parse(" ".join(words), fuzzy=True, ignoretz=True,
                                   default=datetime(2001, 1, 1))
                two = parser.parse(" ".join(words), fuzzy=True, ignoretz=True,
                                   default=datetime(2002, 2, 2))
        except (ValueError, OverflowError):
            words.pop()
            continue
        return one.date().isoformat() if one.date() == two.date() else None
    return None


def title_lines(text: str, title: str | None) -> tuple[Block, ...]:
    """The lines near the top of ``text`` that state its title (a saved page's heading, often
    twice), as "title" blocks: each leads into the paragraph after it instead of standing
    alone as a passage of a dozen words that matches every query about the article."""
    if not title:
        return ()
    wanted = collapse(title).casefold()
    blocks = []
    for number, line in enumerate(re.finditer(r"[^\n]*\S[^\n]*", text)):
        if number >= _TITLE_LINES:
            break
        if collapse(line.group()).casefold() == wanted:
            start = line.start() + len(line.group()) - len(line.group().lstrip())
            blocks.append(Block(start, line.start() + len(line.group().rstrip()), "title"))
    return tuple(blocks)


def first_line(text: str) -> str | None:
    """The first line of ``text`` holding more than whitespace, or None."""
    return next((line for line in text.split("\n") if line.strip()), None)
