"""Plain text (.txt): the text as written; its title as ``index.titles.text_title`` finds it,
and, in text saved from a web page, its comments and furniture as ``page_parts`` finds them."""

from __future__ import annotations

import re

from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted
from index.formats.page_parts import page_parts
from index.formats.structure import Block, Structure
from index.titles import text_title

# How many lines from the top the title line may stand at (after notices and a site name).
_TITLE_LINES = 10


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    title = text_title(text)
    return Extracted(text, title, structure=Structure(blocks=title_lines(text, title),
                                                      parts=page_parts(text)))


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
