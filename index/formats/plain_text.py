"""Plain text (.txt): the text as written; its title is its first non-blank line."""

from __future__ import annotations

from index.formats.decoding import clean, decode
from index.formats.extraction import Extracted


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    return Extracted(text, first_line(text))


def first_line(text: str) -> str | None:
    """The first line of ``text`` holding more than whitespace, or None."""
    return next((line for line in text.split("\n") if line.strip()), None)
