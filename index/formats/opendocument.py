"""OpenDocument text and slides (.odt, .odp): paragraphs, lists, table rows, notes in order."""

from __future__ import annotations

import io
import zipfile
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.zip_archive import unpacked_archive

# odfpy is imported where first needed: most folders hold no OpenDocument files, and start-up
# is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from odf.element import Element

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_PARAGRAPHS = {(_TEXT, "p"), (_TEXT, "h")}
# Not what a reader sees as the text: deleted changes, comments, a note's number, the
# declarations of numbered captions, a slide number's placeholder ("<number>").
_HIDDEN = {
    (_TEXT, "tracked-changes"), (_OFFICE, "annotation"), (_TEXT, "note-citation"),
    (_TEXT, "sequence-decls"), (_OFFICE, "forms"), (_TEXT, "page-number"),
}  # fmt: skip


def extract_text_document(data: bytes, max_chars: int) -> Extracted:
    return _extract(data, "ODT")


def extract_presentation(data: bytes, max_chars: int) -> Extracted:
    return _extract(data, "ODP")


@dataclass
class _Reading:
    """What a walk of the document has found so far."""

    paragraphs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # footnotes and endnotes, read last
    heading: str | None = None


def _extract(data: bytes, kind: str) -> Extracted:
    from odf.opendocument import load

    archive = unpacked_archive(data, kind)
    with zipfile.ZipFile(archive) as files:
        if "META-INF/manifest.xml" in files.namelist() and (
            b"encryption-data" in files.read("META-INF/manifest.xml")
        ):
            raise UnreadableDocumentError(f"encrypted {kind} (password-protected)")
    archive.seek(0)
    try:
        # odfpy prints a part it cannot parse (pandoc's styles.xml) to stdout, which carries
        # rebuild-index's summary; the part is only styles, and the text is still read.
        with redirect_stdout(io.StringIO()):
            document = load(archive)
        reading = _Reading()
        _read_blocks(document.body, reading)
        meta_title = _meta_title(document)
    except Exception as exc:  # odfpy and expat raise many types for malformed parts
        raise UnreadableDocumentError(f"broken {kind}: {short_message(exc)}") from exc
    paragraphs = reading.paragraphs + reading.notes
    text = "\n\n".join(p for p in (clean(p).strip() for p in paragraphs) if p)
    title = next((t for t in (meta_title, reading.heading) if t and collapse(t)), None)
    return Extracted(text, title or first_line(text))


def _meta_title(document: Any) -> str | None:
    from odf.dc import Title
    from odf.teletype import extractText

    titles = document.meta.getElementsByType(Title)
    return str(extractText(titles[0])) if titles else None


def _read_blocks(root: Element, reading: _Reading) -> None:
    """Each paragraph, heading and table row under ``root``, in document order."""
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node.nodeType != node.ELEMENT_NODE or node.qname in _HIDDEN:
            continue
        if node.qname in _PARAGRAPHS:
            text = _inline_text(node, reading)
            reading.paragraphs.append(text)
            if node.qname == (_TEXT, "h") and reading.heading is None and collapse(text):
                reading.heading = text
        elif node.qname == (_TABLE, "table-row"):
            cells = [_cell_text(c) for c in node.childNodes
                     if c.nodeType == c.ELEMENT_NODE and c.qname == (_TABLE, "table-cell")]
            if any(cells):
                reading.paragraphs.append(" | ".join(cells))
        else:
            stack.extend(reversed(node.childNodes))


def _cell_text(cell: Element) -> str:
    reading = _Reading()
    _read_blocks(cell, reading)
    return " ".join(collapse(p) for p in reading.paragraphs + reading.notes if collapse(p))


def _inline_text(paragraph: Element, reading: _Reading) -> str:
    """A paragraph's text; its notes go to ``reading.notes``, frames in it (text boxes,
    captions) become paragraphs after it."""
    pieces: list[str] = []
    frames: list[Any] = []
    stack: list[Any] = list(reversed(paragraph.childNodes))
    while stack:
        node = stack.pop()
        if node.nodeType == node.TEXT_NODE:
            pieces.append(str(node.data))
        elif node.nodeType != node.ELEMENT_NODE or node.qname in _HIDDEN:
            continue
        elif node.qname == (_TEXT, "s"):
            pieces.append(" " * int(node.getAttrNS(_TEXT, "c") or 1))
        elif node.qname in ((_TEXT, "tab"), (_TEXT, "line-break")):
            pieces.append(" ")
        elif node.qname == (_TEXT, "note"):
            note = _Reading()
            _read_blocks(node, note)
            reading.notes.append(" ".join(note.paragraphs))
        elif node.qname[1] == "frame" or node.qname[0] != _TEXT:
            frames.append(node)
        else:
            stack.extend(reversed(node.childNodes))
    for frame in frames:
        _read_blocks(frame, reading)
    return "".join(pieces)
