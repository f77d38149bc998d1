"""Which stretches of text saved from a web page are reader comments and which are furniture.

Pure functions over the text a format has read; the rest is the article. The rules
(docs/quality.md, "Comments and furniture"):

- Furniture is a line that is furniture wherever it appears (``index.titles.is_furniture``:
  player and cookie notices, menus, share and subscribe lines, legal lines), a comment header
  ("21 comments to TITLE"), a comment's buttons ("Reply") and the reply form ("Leave a
  Reply", "Comments are closed.") with the short lines after it. A "READ MORE: headline"
  teaser is not: people search for the story it names.
- Comments begin after a comment header or, on a page without one, at the first of two or
  more author lines ("Jane says", "3. Jane says:"). Each author line, or inside the comments a
  bulleted name ("• Anonymous"), begins one comment by that author.
"""

from __future__ import annotations

import bisect
import re

from index.formats.structure import Part
from index.titles import is_furniture, starts_comments

_AUTHOR_SAYS = re.compile(
    r"(?:\d{1,3}\.\s+|[•·*▪◦‣-]\s+)?(?P<name>[^\s.!?].{0,60}?)\s+(?:says|said|wrote|writes):?",
    re.IGNORECASE,
)
# A numbered comment list ("1. text", as WordPress's <ol class="commentlist"> saves).
_NUMBERED = re.compile(r"(?P<number>\d{1,3})\.\s+\S.*")
_BULLETED_NAME = re.compile(r"[•·*▪◦‣]\s+(?P<name>[^\s.!?,;:].{0,40}?)")
_MAX_NAME_WORDS = 5
_REPLY_FORM = re.compile(
    r"leave a (?:reply|comment)(?:\s+(?:to|on)\s+.+)?|comments are closed\.?|post comment|"
    r"add (?:a )?comment|cancel reply|your email address will not be published\b.*",
    re.IGNORECASE,
)
# The reply form's field labels, buttons and notices: short, and asking for something.
_FORM_LINE_WORDS = 8
_FORM_WORDS = re.compile(
    r"\*|:$|\b(?:name|e-?mail|website|url|comment|reply|required|published|notify|"
    r"post|submit|cancel|save my|log ?in|sign ?in)\b", re.IGNORECASE,
)
# What a comment thread's buttons say.
_COMMENT_BUTTONS = re.compile(r"(?:reply|report|permalink|flag|edit|delete|quote|"
                              r"like|dislike|upvote|downvote|load more comments)", re.IGNORECASE)


def page_parts(text: str) -> tuple[Part, ...]:
    """The comments and furniture of ``text``, in order, as offsets into it."""
    spans = text_lines(text)
    lines = [text[start:end] for start, end in spans]
    labels: list[tuple[str, str | None, int]] = []  # (kind, author, comment number) a line
    start = _comments_start(lines)
    numbered = start is not None and start == _numbered_comments_start(lines)
    comment: tuple[str | None, int] | None = None
    in_form = False
    for i, line in enumerate(lines):
        in_form = in_form or bool(_REPLY_FORM.fullmatch(line))
        if in_form and _is_form_line(line):
            labels.append(_FURNITURE)
            continue
        in_form = False
        if _is_furniture(line):
            labels.append(_FURNITURE)
        elif start is not None and i >= start:
            comment = _next_comment(line, comment, numbered)
            labels.append(("comment", *comment))
        else:
            labels.append(_ARTICLE)
    return _merged(spans, labels)


def extracted_parts(text: str, spans: list[tuple[int, int]], article: str,
                    comments: str | None, headings: frozenset[int] = frozenset()
                    ) -> tuple[Part, ...]:
    """The comments and furniture of a page's ``text`` made of blocks at ``spans``, given the
    text of its article and of its comments as a main-content extractor found them, and
    where its headings start (``headings``).

    A block of a few words or more is a comment's or the article's if its words are found
    there, in that order. Any other block (one the extractor left out, or too short to tell)
    that is not furniture itself is a comment's if it follows the first comment (extractors
    often find only the first of a thread), the article's if it stands between two of the
    article's (a heading or a list the extractor dropped) or right before the first, if it is
    a heading or its words are the article's (its title); the rest is furniture.
    """
    article_words, comment_words = _words(article), _words(comments or "")
    found: list[str | None] = []
    for start, end in spans:
        words = _words(text[start:end])
        if words.count(" ") + 1 < _MIN_MATCH_WORDS:
            found.append(None)
        elif comment_words and words in comment_words:
            found.append("comment")
        else:
            found.append("article" if words in article_words else None)
    article_span = _span_of(found, "article")
    # The article's title stands right before the first block found, which extractors leave
    # out or which is too short to be told by its words ("Path").
    first = article_span.start
    if first > 0 and found[first - 1] is None:
        words = _words(text[spans[first - 1][0] : spans[first - 1][1]])
        if spans[first - 1][0] in headings or words and f" {words} " in f" {article_words} ":
            article_span = range(first - 1, article_span.stop)
    comments_from = found.index("comment") if "comment" in found else len(found)
    labels: list[tuple[str, str | None, int]] = []
    comment: tuple[str | None, int] | None = None
    for i, (kind, (start, end)) in enumerate(zip(found, spans, strict=True)):
        block = text[start:end]
        if kind is None and not _is_furniture(block):
            kind = ("comment" if i > comments_from else "article" if i in article_span
                    else None)
        if kind == "comment":
            comment = _next_comment(block, comment)
            labels.append(("comment", *comment))
        else:
            labels.append(_ARTICLE if kind == "article" else _FURNITURE)
    return _merged(spans, labels)


def with_furniture(text: str, parts: tuple[Part, ...], spans: list[tuple[int, int]]
                   ) -> tuple[Part, ...]:
    """``parts`` of ``text`` with the stretches at ``spans`` (in text order, not overlapping)
    made furniture, whatever they were: a part they cut keeps what is left on either side."""
    if not spans:
        return parts
    starts = [start for start, _ in spans]
    pieces = [Part(start, end, "furniture") for start, end in spans]
    for part in parts:
        cursor = part.start
        i = max(bisect.bisect_right(starts, part.start) - 1, 0)
        for start, end in [*spans[i:bisect.bisect_left(starts, part.end)], (part.end, part.end)]:
            if end <= cursor:
                continue
            left_over = text[cursor:start]
            if start > cursor and left_over.strip():
                left = cursor + len(left_over) - len(left_over.lstrip())
                pieces.append(Part(left, cursor + len(left_over.rstrip()), part.kind,
                                   part.author))
            cursor = end
    pieces.sort(key=lambda part: part.start)
    merged: list[Part] = []
    for piece in pieces:  # furniture next to furniture, with only blank lines between, is one
        last = merged[-1] if merged else None
        if (last and last.kind == piece.kind == "furniture"
                and not text[last.end : piece.start].strip()):
            merged[-1] = Part(last.start, max(last.end, piece.end), "furniture")
        else:
            merged.append(piece)
    return tuple(merged)


_MIN_MATCH_WORDS = 3  # fewer words than this could be found anywhere
_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    """The words of ``text``, casefolded, one space apart: what two extractions agree on."""
    return " ".join(_WORD.findall(text.casefold()))


def _span_of(found: list[str | None], kind: str) -> range:
    """The indexes from the first block found to be ``kind`` to the last."""
    where = [i for i, k in enumerate(found) if k == kind]
    return range(where[0], where[-1] + 1) if where else range(0)


_ARTICLE: tuple[str, str | None, int] = ("article", None, -1)
_FURNITURE: tuple[str, str | None, int] = ("furniture", None, -1)


def _is_form_line(line: str) -> bool:
    return (len(line.split()) <= _FORM_LINE_WORDS
            and bool(_REPLY_FORM.fullmatch(line) or _FORM_WORDS.search(line)))


def _is_furniture(line: str) -> bool:
    line = line.strip()
    return starts_comments(line) or is_furniture(line) or bool(_COMMENT_BUTTONS.fullmatch(line))


def _next_comment(line: str, comment: tuple[str | None, int] | None, numbered: bool = False
                  ) -> tuple[str | None, int]:
    """The comment a line of the comments is part of: a new one if it names an author or,
    in a numbered comment list, if it starts with the next number."""
    name = _author(line.strip(), bulleted=True)
    if name is not None or comment is None or (numbered and _NUMBERED.fullmatch(line)):
        return name, (comment[1] + 1) if comment else 0
    return comment


def text_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line, without the whitespace around it, that holds more."""
    spans, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            start = offset + len(line) - len(line.lstrip())
            spans.append((start, offset + len(line.rstrip())))
        offset += len(line) + 1
    return spans


def _comments_start(lines: list[str]) -> int | None:
    """The index of the first comment line: after a comment header, or the first author line
    when two or more stand on a page without a header."""
    for i, line in enumerate(lines[1:], 1):
        if starts_comments(line) and not _REPLY_FORM.fullmatch(line):
            return i + 1
    authors = [i for i, line in enumerate(lines) if _author(line, bulleted=False)]
    return authors[0] if len(authors) >= 2 else _numbered_comments_start(lines)


def _numbered_comments_start(lines: list[str]) -> int | None:
    """The "1." line of a numbered list (two items or more) that stands between furniture
    and the reply form's last line ("Comments are closed."): a page's unsigned comments.
    Both ends are asked for, so that a numbered list of the article's is never taken."""
    end = next((i for i in range(len(lines) - 1, -1, -1) if _REPLY_FORM.fullmatch(lines[i])),
               None)
    if end is None:
        return None
    numbers = [(i, int(m.group("number"))) for i, line in enumerate(lines[:end])
               if (m := _NUMBERED.fullmatch(line))]
    # The list runs 1, 2, ... n up to the end; find where its "1." is.
    expected, first = None, None
    for i, number in reversed(numbers):
        if expected is not None and number != expected:
            break
        expected, first = number - 1, i
        if number == 1:
            break
    if first is None or expected != 0 or first == numbers[-1][0] or first == 0:
        return None
    return first if _is_furniture(lines[first - 1]) else None


def _author(line: str, bulleted: bool) -> str | None:
    """The name of an author line ("Jane Doe says:", "• Anonymous"), or None."""
    match = _AUTHOR_SAYS.fullmatch(line) or (bulleted and _BULLETED_NAME.fullmatch(line))
    if not match:
        return None
    name = match.group("name").strip()
    return name if len(name.split()) <= _MAX_NAME_WORDS else None


def _merged(spans: list[tuple[int, int]], labels: list[tuple[str, str | None, int]]
            ) -> tuple[Part, ...]:
    """Runs of spans with one label as Parts (the article's runs left out)."""
    parts: list[Part] = []
    previous: tuple[str, str | None, int] | None = None
    for (start, end), label in zip(spans, labels, strict=True):
        if label[0] == "article":
            pass
        elif label == previous:
            parts[-1] = Part(parts[-1].start, end, parts[-1].kind, parts[-1].author)
        else:
            parts.append(Part(start, end, label[0], label[1]))
        previous = label
    return tuple(parts)
