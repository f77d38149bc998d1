"""Markdown (.md, .markdown): the source as its text; its title from front matter or a heading."""

from __future__ import annotations

from index.formats.decoding import clean, decode
from index.formats.extraction import Extracted
from index.formats.plain_text import first_line


def extract(data: bytes, max_chars: int) -> Extracted:
    text = clean(decode(data, declared=None)).strip()
    return Extracted(text, _title(text))


def _title(text: str) -> str | None:
    """The front matter's ``title:``, else the first heading outside code, else the first line."""
    lines = text.split("\n")
    if lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), 0)
        for line in lines[1:end]:
            if line.startswith("title:") and (value := line[6:].strip().strip("\"'")).strip():
                return value
        lines = lines[end + 1 :] if end else lines
    in_fence = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence  # a "# comment" inside a code block is not a heading
        elif not in_fence and (heading := _atx_heading(line)):
            return heading
    return first_line("\n".join(lines))


def _atx_heading(line: str) -> str | None:
    """The text of a Markdown "# heading" line (CommonMark's rules), or None.

    String methods, not a regular expression: the obvious pattern backtracks quadratically
    on a long run of spaces between a heading's words and its closing #s.
    """
    rest = line.lstrip(" ")
    if len(line) - len(rest) > 3:
        return None
    marks = len(rest) - len(rest.lstrip("#"))
    rest = rest[marks:]
    if not 1 <= marks <= 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    unclosed = text.rstrip("#")
    if unclosed != text and (not unclosed or unclosed[-1] in " \t"):
        text = unclosed.rstrip(" \t")  # a closing run of #s is not part of the heading
    return text or None
