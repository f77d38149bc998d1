"""reStructuredText (.rst): the text docutils parses, without its markup; the title from it too.

Section titles are headings (level: how deep the section is), list paragraphs are items (depth:
how many lists hold them), literal blocks are code, table rows are cells joined by " | ".

Parsed with docutils' security settings: no file insertion (include, csv-table files), no raw
directive, no configuration files read, and no message printed or raised for a bad document.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder

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
    built = TextBuilder()
    try:
        tree = publish_doctree(source, settings_overrides={**_SETTINGS,
                                                           "warning_stream": io.StringIO()})
        title = _add_blocks(tree, built)
    except Exception as exc:  # docutils raises many types for input it cannot parse
        raise UnreadableDocumentError(f"broken reStructuredText: {short_message(exc)}") from exc
    text = built.text
    return Extracted(text, title if title and collapse(title) else first_line(text),
                     structure=built.structure)


def _add_blocks(tree: nodes.document, built: TextBuilder) -> str | None:
    """Add each text block (paragraph, title, list item, table row, literal block) in
    document order; returns the first title's text.

    A section's title is a heading, its level how many sections hold it; the document's own
    title (a lone top section's, promoted by docutils) is the title, not a heading. A block in
    a list is an item, its depth how many lists hold it; literal and doctest blocks are code.
    """
    from docutils import nodes

    title = None
    # Iterative: a deeply nested document must not overflow the stack.
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 0)]  # (node, sections, lists)
    while stack:
        node, sections, lists = stack.pop()
        if node.tagname in _HIDDEN:
            continue
        if isinstance(node, nodes.row):
            built.add(" | ".join(collapse(entry.astext()) for entry in node.children), "row")
        elif isinstance(node, nodes.literal_block | nodes.doctest_block):
            built.add(clean(node.astext()), "code")
        elif isinstance(node, nodes.TextElement):
            # Fixed text (an address, a math block) keeps its lines; the rest is one line.
            fixed = isinstance(node, nodes.FixedTextElement)
            text = clean(node.astext()) if fixed else collapse(node.astext())
            if isinstance(node, nodes.title) and isinstance(node.parent, nodes.section):
                built.add(text, "heading", sections)
            else:
                built.add(text, "item" if lists else "paragraph", max(lists, 1))
            if title is None and isinstance(node, nodes.title):
                title = node.astext()
        elif isinstance(node, nodes.Element):
            sections += isinstance(node, nodes.section)
            lists += isinstance(node, nodes.bullet_list | nodes.enumerated_list)
            stack.extend((child, sections, lists) for child in reversed(node.children))
    return title
