"""reStructuredText (.rst): the text docutils parses, without its markup; the title from it too.

Parsed with docutils' security settings: no file insertion (include, csv-table files), no raw
directive, no configuration files read, and no message printed or raised for a bad document.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line

# docutils is imported where first needed: most folders hold no reStructuredText, and
# start-up is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from docutils import nodes

_SETTINGS = {
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "_disable_config": True,  # never read docutils.conf from the working directory
    "report_level": 5,  # quiet: no system messages
    "halt_level": 5,  # halt on nothing: a broken directive is left out, not fatal
    "input_encoding": "unicode",
}
# Parts of a parsed document that are not its text: messages about the markup, comments,
# substitution definitions (their text appears where they are used), a footnote's number.
_HIDDEN = ("system_message", "problematic", "comment", "substitution_definition", "raw",
           "pending", "label")


def extract(data: bytes, max_chars: int) -> Extracted:
    from docutils.core import publish_doctree

    source = decode(data, declared=None)
    try:
        tree = publish_doctree(source, settings_overrides={**_SETTINGS,
                                                           "warning_stream": io.StringIO()})
        paragraphs, title = _paragraphs(tree)
    except Exception as exc:  # docutils raises many types for input it cannot parse
        raise UnreadableDocumentError(f"broken reStructuredText: {short_message(exc)}") from exc
    text = "\n\n".join(p for p in (clean(p).strip() for p in paragraphs) if p)
    return Extracted(text, title if title and collapse(title) else first_line(text))


def _paragraphs(tree: nodes.document) -> tuple[list[str], str | None]:
    """The text of each text block (paragraph, title, list item, table cell, literal block)
    in document order, and the first title's."""
    from docutils import nodes

    paragraphs: list[str] = []
    title = None
    # Iterative: a deeply nested document must not overflow the stack.
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        if node.tagname in _HIDDEN:
            continue
        if isinstance(node, nodes.row):
            paragraphs.append(" | ".join(collapse(entry.astext()) for entry in node.children))
        elif isinstance(node, nodes.FixedTextElement):  # literal blocks keep their lines
            paragraphs.append(node.astext())
        elif isinstance(node, nodes.TextElement):
            paragraphs.append(collapse(node.astext()))
            if title is None and isinstance(node, nodes.title):
                title = node.astext()
        elif isinstance(node, nodes.Element):
            stack.extend(reversed(node.children))
    return paragraphs, title
