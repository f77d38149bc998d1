"""Plain text (.txt): the text as written; its title as ``index.titles.text_title`` finds it."""

from __future__ import annotations

from index.formats.decoding import clean, decode
from index.formats.extraction import Extracted
from index.titles import text_title


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    return Extracted(text, text_title(text))


def first_line(text: str) -> str | None:
    """The first line of ``text`` holding more than whitespace, or None."""
    return next((line for line in text.split("\n") if line.strip()), None)
