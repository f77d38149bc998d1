"""Word (.docx): paragraphs, list items and table rows in order, then the footnotes and endnotes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.zip_archive import unpacked_archive

# python-docx is imported where first needed: most folders hold no Word files, and start-up
# is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table

_WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Word's notes parts open with a separator and a continuation notice, which are not notes.
_NOTE_PARTS = {"/word/footnotes.xml": "footnote", "/word/endnotes.xml": "endnote"}


def extract(data: bytes, max_chars: int) -> Extracted:
    import docx

    archive = unpacked_archive(data, "DOCX")
    try:
        document = docx.Document(archive)
        paragraphs, heading = _body(document)
        paragraphs += _notes(document)
        meta_title = document.core_properties.title
    except Exception as exc:  # python-docx and lxml raise many types for malformed parts
        raise UnreadableDocumentError(f"broken DOCX: {short_message(exc)}") from exc
    text = "\n\n".join(p for p in (clean(p).strip() for p in paragraphs) if p)
    title = next((t for t in (meta_title, heading) if t and collapse(t)), None)
    return Extracted(text, title or first_line(text))


def _body(document: WordDocument) -> tuple[list[str], str | None]:
    """The body's paragraphs (a table row as one, cells apart) and its first heading's text."""
    from docx.table import Table

    paragraphs: list[str] = []
    heading = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            paragraphs += _rows(block)
            continue
        paragraphs.append(block.text)
        style = block.style.name if block.style is not None else ""
        if heading is None and style and style.startswith(("Title", "Heading")):
            heading = block.text
    return paragraphs, heading


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
