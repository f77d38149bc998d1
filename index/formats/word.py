"""Word (.docx): paragraphs, headings, list items and table rows in order, then the footnotes
and endnotes.

A paragraph is a heading if its style is "Heading N" (level N) or, failing that, if it or its
style sets an outline level (a custom heading style); "Title" and "Subtitle" are the document's
title, not headings: its Heading 1s are its top sections, as in the Markdown it is often made
from. A paragraph with numbering (its own or its style's) or a "List ..." style is a list item,
its depth the numbering level plus one (where no level is set, the N of a style "List Bullet N").
Notes come last, as paragraphs of the last section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder
from index.formats.zip_archive import unpacked_archive

# python-docx is imported where first needed: most folders hold no Word files, and start-up
# is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table
    from docx.text.paragraph import Paragraph

_WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Word's notes parts open with a separator and a continuation notice, which are not notes.
_NOTE_PARTS = {"/word/footnotes.xml": "footnote", "/word/endnotes.xml": "endnote"}
_HEADING_STYLE = re.compile(r"Heading ([1-9])")
_LIST_STYLE = re.compile(r"List.* ([1-9])")
_TITLE_STYLES = ("Title", "Subtitle")
_BODY_OUTLINE_LEVEL = 9  # w:outlineLvl 0-8 are heading levels 1-9; 9 is body text


def extract(data: bytes, max_chars: int) -> Extracted:
    import docx

    archive = unpacked_archive(data, "DOCX")
    built = TextBuilder()
    try:
        document = docx.Document(archive)
        heading = _body(document, built)
        for note in _notes(document):
            built.add(clean(note))
        meta_title = document.core_properties.title
    except Exception as exc:  # python-docx and lxml raise many types for malformed parts
        raise UnreadableDocumentError(f"broken DOCX: {short_message(exc)}") from exc
    title = next((t for t in (meta_title, heading) if t and collapse(t)), None)
    return Extracted(built.text, title or first_line(built.text), structure=built.structure)


def _body(document: WordDocument, built: TextBuilder) -> str | None:
    """Add the body's paragraphs (a table row as one, cells apart); returns the text of its
    first title or heading."""
    from docx.table import Table

    heading = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in _rows(block):
                built.add(clean(row), "row")
            continue
        kind, level = _kind(block)
        built.add(clean(block.text), kind, level)
        style = (block.style.name if block.style is not None else None) or ""
        if heading is None and (kind == "heading" or style.startswith(("Title", "Heading"))):
            heading = block.text
    return heading


def _kind(paragraph: Paragraph) -> tuple[str, int]:
    """("heading", level), ("item", depth) or ("paragraph", 1): what a paragraph is."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if match := _HEADING_STYLE.fullmatch(name):
        return "heading", int(match.group(1))
    if name in _TITLE_STYLES:
        return "paragraph", 1
    # The paragraph's own properties first, then its style's and those it is based on (a
    # broken file's styles may be based on each other in a circle).
    properties: list[Any] = [paragraph._p.pPr]
    seen: set[int] = set()
    while style is not None and id(style.element) not in seen:
        seen.add(id(style.element))
        properties.append(style.element.pPr)
        style = style.base_style
    outline = _first_value(properties, "outlineLvl")
    if outline is not None and outline.isdigit() and int(outline) < _BODY_OUTLINE_LEVEL:
        return "heading", int(outline) + 1
    numbering = next((p.find(f"{_WORD}numPr") for p in properties
                      if p is not None and p.find(f"{_WORD}numPr") is not None), None)
    if numbering is not None and _first_value([numbering], "numId") != "0":  # 0: numbering off
        ilvl = _first_value([numbering], "ilvl")
        return "item", int(ilvl) + 1 if ilvl and ilvl.isdigit() else _list_style_depth(name)
    if name.startswith("List"):
        return "item", _list_style_depth(name)
    return "paragraph", 1


def _list_style_depth(name: str) -> int:
    """A list style's depth by its name: Word's "List Bullet 2" is a list in a list."""
    match = _LIST_STYLE.fullmatch(name)
    return int(match.group(1)) if match else 1


def _first_value(elements: list[Any], tag: str) -> str | None:
    """The w:val of the first ``tag`` child of any of ``elements``."""
    for element in elements:
        child = element.find(f"{_WORD}{tag}") if element is not None else None
        if child is not None and child.get(f"{_WORD}val") is not None:
            return str(child.get(f"{_WORD}val"))
    return None


def _rows(table: Table) -> Iterator[str]:
    """Each row's cells joined by " | "; a cell merged across columns is read once."""
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            parts = [p.text for p in cell.paragraphs]
            for nested in cell.tables:
                parts += _rows(nested)
            cells.append(" ".join(p.strip() for p in parts if p.strip()))
        if any(cells):
            yield " | ".join(cells)


def _notes(document: WordDocument) -> list[str]:
    from docx.oxml import parse_xml

    notes: list[str] = []
    for part in document.part.package.iter_parts():
        kind = _NOTE_PARTS.get(str(part.partname))
        if kind is None:
            continue
        root: Any = parse_xml(part.blob)
        for note in root.iter(f"{_WORD}{kind}"):
            if note.get(f"{_WORD}type") in (None, "normal"):
                notes.append(" ".join(_paragraph_text(p) for p in note.iter(f"{_WORD}p")))
    return notes


def _paragraph_text(paragraph: Any) -> str:
    pieces = []
    for node in paragraph.iter(f"{_WORD}t", f"{_WORD}tab", f"{_WORD}br"):
        pieces.append((node.text or "") if node.tag == f"{_WORD}t" else " ")
    return "".join(pieces)
