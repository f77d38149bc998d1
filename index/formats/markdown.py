"""Markdown (.md, .markdown): the text a reader sees, parsed by markdown-it-py (CommonMark and its
tables); front matter is the title's source, not text.

Headings (with their level), paragraphs and list items (with their depth) are one block each,
code blocks keep their lines, table rows are their cells joined by " | ", links and images give
their text; markup and raw HTML tags are dropped. The title: front matter's ``title:``, else
the first heading, else the first line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.formats import html as html_format
from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder

if TYPE_CHECKING:
    from markdown_it.token import Token

# Block tokens whose inline content is a table's cell.
_CELLS = ("th_open", "td_open")


def extract(data: bytes, max_chars: int) -> Extracted:
    source = clean(decode(data, declared=None))
    front, body = _front_matter(source)
    built = TextBuilder()
    heading = add_text(body, built)
    title = _front_title(front) or heading or first_line(built.text)
    return Extracted(built.text, title, structure=built.structure)


def add_text(source: str, built: TextBuilder) -> str | None:
    """Add the text of Markdown ``source`` (clean, without front matter) to ``built``, block
    by block; returns its first heading's text, if any (a notebook's Markdown cell)."""
    # markdown-it-py is imported where first needed: most folders hold little Markdown.
    from markdown_it import MarkdownIt

    return _blocks(MarkdownIt("commonmark").enable("table").parse(source), built)


def _front_matter(source: str) -> tuple[str, str]:
    """(front matter, the rest) of a source that opens with a ``---`` block; else ("", source)."""
    lines = source.split("\n")
    if lines[0].strip() != "---":
        return "", source
    for end, line in enumerate(lines[1:], 1):
        if line.strip() in ("---", "..."):
            return "\n".join(lines[1:end]), "\n".join(lines[end + 1 :])
    return "", source  # never closed: a thematic break, not front matter


def _front_title(front: str) -> str | None:
    for line in front.split("\n"):
        if line.startswith("title:") and collapse(value := line[6:].strip().strip("\"'")):
            return value
    return None


def _blocks(tokens: list[Token], built: TextBuilder) -> str | None:
    """Add the text of a token stream, block by block; returns the first heading's text."""
    heading: str | None = None
    row: list[str] | None = None
    lists = 0  # how deep in lists the next paragraph is
    for i, token in enumerate(tokens):
        if token.type in ("fence", "code_block"):
            built.add(token.content, "code")
        elif token.type == "html_block":
            built.add(_without_tags(token.content))
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            lists += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists -= 1
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            built.add(" | ".join(cell for cell in row if cell), "row")
            row = None
        # An opening token is followed by the inline token of its content.
        elif token.type in _CELLS and row is not None:
            row.append(_inline_text(tokens[i + 1]))
        elif token.type == "heading_open":
            text = _inline_text(tokens[i + 1])
            built.add(text, "heading", int(token.tag[1]))
            if heading is None and collapse(text):
                heading = collapse(text)
        elif token.type == "paragraph_open":
            text = _inline_text(tokens[i + 1])
            built.add(text, "item", lists) if lists else built.add(text)
    return heading


def _inline_text(token: Token) -> str:
    """What a reader sees of an inline token: its words, code, link and image text."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # its alt text
        elif child.type == "html_inline":
            parts.append(_without_tags(child.content))
    return "".join(parts).strip()


def _without_tags(html: str) -> str:
    """Raw HTML in Markdown: its text, never its tags."""
    return html_format.visible_text(html.encode())
