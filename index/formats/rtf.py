"""Rich Text Format (.rtf): its text without control words, footnotes last; the title from \\info.

striprtf drops every ignorable destination, which is where LibreOffice puts footnotes
(``{\\*\\footnote ...}``), so footnote groups are cut out first and read on their own.
"""

from __future__ import annotations

import codecs
import re

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line

_CODE_PAGE = re.compile(rb"\\ansicpg(\d{1,5})")
_FOOTNOTE = re.compile(r"\{(?:\\\*)?\\footnote(?![a-z])")
_TITLE = re.compile(r"\{\\title(?![a-z])")
# A list item's bullet or number as drawn, which the other formats leave out too.
_LIST_MARK = re.compile(r"\{\\listtext(?![a-z])")


def extract(data: bytes, max_chars: int) -> Extracted:
    if not data.lstrip().startswith(b"{\\rtf"):
        raise UnreadableDocumentError("broken RTF: it does not start with {\\rtf")
    encoding = _encoding(data)
    source = data.decode(encoding, errors="replace")
    body, footnotes = _cut_groups(_cut_groups(source, _LIST_MARK)[0], _FOOTNOTE)
    _, titles = _cut_groups(source, _TITLE)
    try:
        lines = _lines(_plain_text(body, encoding))
        notes = [" ".join(_lines(_plain_text(f"{{\\rtf1 {n}}}", encoding))) for n in footnotes]
        title = collapse(_plain_text(f"{{\\rtf1 {titles[0]}}}", encoding)) if titles else ""
    except Exception as exc:  # striprtf's regular expressions fail in many ways on odd input
        raise UnreadableDocumentError(f"broken RTF: {short_message(exc)}") from exc
    text = "\n\n".join(p for p in lines + notes if p)
    return Extracted(text, title or first_line(text))


def _plain_text(rtf: str, encoding: str) -> str:
    # striprtf is imported where first needed: most folders hold no RTF, and start-up is most
    # of what an incremental rebuild waits for.
    from striprtf.striprtf import rtf_to_text

    return str(rtf_to_text(rtf, encoding=encoding, errors="replace"))  # type: ignore[no-untyped-call]


def _encoding(data: bytes) -> str:
    """The code page the file declares (\\ansicpgN) for its \\'xx bytes; Windows-1252 if none."""
    match = _CODE_PAGE.search(data[:4096])
    if match:
        try:
            return codecs.lookup(f"cp{int(match.group(1))}").name
        except LookupError:
            pass
    return "cp1252"


def _lines(text: str) -> list[str]:
    """Non-blank lines, tidied: a table row's cells ("a|b|") as "a | b"."""
    lines = []
    for line in clean(text).split("\n"):
        line = line.strip()
        if line.endswith("|"):
            line = " | ".join(cell.strip() for cell in line[:-1].split("|"))
        if line:
            lines.append(line)
    return lines


def _cut_groups(source: str, opening: re.Pattern[str]) -> tuple[str, list[str]]:
    """``source`` without the groups ``opening`` starts, and those groups' contents."""
    kept: list[str] = []
    groups: list[str] = []
    position = 0
    while match := opening.search(source, position):
        end = _group_end(source, match.start())
        kept.append(source[position : match.start()])
        groups.append(source[match.end() : end - 1])
        position = end
    kept.append(source[position:])
    return "".join(kept), groups


def _group_end(source: str, start: int) -> int:
    """The index just past the brace closing the group that opens at ``start``."""
    depth = 0
    index = start
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2  # an escaped brace or backslash is text, not structure
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(source)  # unclosed: the group runs to the end, as readers take it
