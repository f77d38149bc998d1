"""Plain text (.txt): the text as written; its title as ``index.titles.text_title`` finds it,
and, in text saved from a web page, its comments and furniture as ``page_parts`` finds them."""

from __future__ import annotations

from index.formats.decoding import clean, decode
from index.formats.extraction import Extracted
from index.formats.page_parts import page_parts
from index.formats.structure import Structure
from index.titles import text_title


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    return Extracted(text, text_title(text), structure=Structure(parts=page_parts(text)))


def first_line(text: str) -> str | None:
    """The first line of ``text`` holding more than whitespace, or None."""
    return next((line for line in text.split("\n") if line.strip()), None)
