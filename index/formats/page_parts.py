"""Which stretches of text saved from a web page are reader comments and which are furniture.

Pure functions over the text a format has read; the rest is the article. The rules
(docs/quality.md, "Comments and furniture"):

- Furniture is a line that is furniture wherever it appears (``index.titles.is_furniture``:
  player and cookie notices, menus, share and subscribe lines, legal lines), a "READ MORE:"
  teaser, a comment header ("21 comments to TITLE") and the reply form ("Leave a Reply",
  "Comments are closed.") with the short lines after it.
- Comments begin after a comment header or, on a page without one, at the first of two or
  more author lines ("Jane says", "3. Jane says:"). Each author line, or inside the comments a
  bulleted name ("• Anonymous"), begins one comment by that author.
"""

from __future__ import annotations

import re

from index.formats.structure import Part
from index.titles import is_furniture, starts_comments

_AUTHOR_SAYS = re.compile(
    r"(?:\d{1,3}\.\s+|[•·*▪◦‣-]\s+)?(?P<name>[^\s.!?].{0,60}?)\s+(?:says|said|wrote|writes):?",
    re.IGNORECASE,
)
_BULLETED_NAME = re.compile(r"[•·*▪◦‣]\s+(?P<name>[^\s.!?,;:].{0,40}?)")
_MAX_NAME_WORDS = 5
_TEASER = re.compile(r"(?:read more|related|see also|watch|listen)\s*:\s+.*", re.IGNORECASE)
_REPLY_FORM = re.compile(
    r"leave a (?:reply|comment)(?:\s+(?:to|on)\s+.+)?|comments are closed\.?|post comment|"
    r"add (?:a )?comment|cancel reply|your email address will not be published\b.*",
    re.IGNORECASE,
)
_FORM_LINE_WORDS = 8  # the reply form's field labels and notices are short


def page_parts(text: str) -> tuple[Part, ...]:
    """The comments and furniture of ``text``, in order, as offsets into it."""
    lines = _lines(text)
    labels: list[tuple[str, str | None, int]] = []  # (kind, author, comment number) a line
    start = _comments_start([line for _, line in lines])
    comment: tuple[str | None, int] | None = None
    in_form = False
    for i, (_, line) in enumerate(lines):
        stripped = line.strip()
        in_form = in_form or bool(_REPLY_FORM.fullmatch(stripped))
        if in_form and len(stripped.split()) <= _FORM_LINE_WORDS:
            labels.append(("furniture", None, -1))
            continue
        in_form = False
        if starts_comments(stripped) or is_furniture(stripped) or _TEASER.fullmatch(stripped):
            labels.append(("furniture", None, -1))
            continue
        if start is not None and i >= start:
            name = _author(stripped, bulleted=True)
            if name is not None or comment is None:
                comment = (name, (comment[1] + 1) if comment else 0)
            labels.append(("comment", *comment))
        else:
            labels.append(("article", None, -1))
    return _merged(lines, labels)


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line) of each line holding more than whitespace."""
    lines, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            lines.append((offset, line))
        offset += len(line) + 1
    return lines


def _comments_start(lines: list[str]) -> int | None:
    """The index of the first comment line: after a comment header, or the first author line
    when two or more stand on a page without a header."""
    for i, line in enumerate(lines[1:], 1):
        if starts_comments(line.strip()) and not _REPLY_FORM.fullmatch(line.strip()):
            return i + 1
    authors = [i for i, line in enumerate(lines) if _author(line.strip(), bulleted=False)]
    return authors[0] if len(authors) >= 2 else None


def _author(line: str, bulleted: bool) -> str | None:
    """The name of an author line ("Jane Doe says:", "• Anonymous"), or None."""
    match = _AUTHOR_SAYS.fullmatch(line) or (bulleted and _BULLETED_NAME.fullmatch(line))
    if not match:
        return None
    name = match.group("name").strip()
    return name if len(name.split()) <= _MAX_NAME_WORDS else None


def _merged(lines: list[tuple[int, str]], labels: list[tuple[str, str | None, int]]
            ) -> tuple[Part, ...]:
    """Runs of lines with one label as Parts (the article's runs left out)."""
    parts: list[Part] = []
    previous: tuple[str, str | None, int] | None = None
    for (offset, line), label in zip(lines, labels, strict=True):
        end = offset + len(line.rstrip())
        start = offset + len(line) - len(line.lstrip())
        if label[0] == "article":
            pass
        elif label == previous:
            parts[-1] = Part(parts[-1].start, end, parts[-1].kind, parts[-1].author)
        else:
            parts.append(Part(start, end, label[0], label[1]))
        previous = label
    return tuple(parts)
