"""OpenDocument text and slides (.odt, .odp): paragraphs, lists, table rows, notes in order.

Headings (text:h) keep their outline level, list items their depth of lists, table rows their
cells joined by " | "; footnotes and endnotes come last. In slides, each draw:page is a slide
(numbered from 1, every slide counted) whose title frame (presentation:class "title") is its
heading, read before its other frames and its speaker notes.
"""

from __future__ import annotations

import io
import zipfile
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder
from index.formats.zip_archive import unpacked_archive

# odfpy is imported where first needed: most folders hold no OpenDocument files, and start-up
# is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from odf.element import Element

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_PRESENTATION = "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"
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

    # (text, kind, level) in order: kind a TextBuilder one, or "slide" (level its number)
    blocks: list[tuple[str, str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # footnotes and endnotes, read last
    heading: str | None = None
    slides: int = 0

    def texts(self) -> list[str]:
        return [text for text, kind, _ in self.blocks if kind != "slide"] + self.notes


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
    built = TextBuilder(page_kind="slide" if kind == "ODP" else "page")
    for text, block_kind, level in reading.blocks:
        if block_kind == "slide":
            built.page(level)
        else:
            built.add(clean(text), block_kind, level)
    for note in reading.notes:
        built.add(clean(note))
    title = next((t for t in (meta_title, reading.heading) if t and collapse(t)), None)
    return Extracted(built.text, title or first_line(built.text), structure=built.structure)


def _meta_title(document: Any) -> str | None:
    from odf.dc import Title
    from odf.teletype import extractText

    titles = document.meta.getElementsByType(Title)
    return str(extractText(titles[0])) if titles else None


def _read_blocks(root: Element, reading: _Reading, lists: int = 0) -> None:
    """Each paragraph, heading, list item, table row and slide under ``root``, in document
    order; ``lists`` is how deep in lists ``root`` is."""
    stack: list[tuple[Any, int]] = [(root, lists)]
    while stack:
        node, depth = stack.pop()
        if node.nodeType != node.ELEMENT_NODE or node.qname in _HIDDEN:
            continue
        if node.qname in _PARAGRAPHS:
            text, frames = _inline_text(node, reading)
            if node.qname == (_TEXT, "h"):
                level = str(node.getAttrNS(_TEXT, "outline-level") or "")  # 1 if unstated
                reading.blocks.append((text, "heading", max(int(level), 1) if level.isdigit()
                                       else 1))
                if reading.heading is None and collapse(text):
                    reading.heading = text
            else:
                reading.blocks.append((text, "item", depth) if depth else (text, "paragraph", 1))
            for frame in frames:
                _read_blocks(frame, reading, depth)
        elif node.qname == (_TABLE, "table-row"):
            cells = [_cell_text(c) for c in node.childNodes
                     if c.nodeType == c.ELEMENT_NODE and c.qname == (_TABLE, "table-cell")]
            if any(cells):
                reading.blocks.append((" | ".join(cells), "row", 1))
        elif node.qname == (_DRAW, "page"):
            children = _slide(node, reading)
            stack.extend((child, depth) for child in reversed(children))
        else:
            depth += node.qname == (_TEXT, "list")
            stack.extend((child, depth) for child in reversed(node.childNodes))


def _slide(page: Element, reading: _Reading) -> list[Any]:
    """Start a slide: its number, its title (the frame of class "title") as a heading; returns
    the rest of what it holds, to be read in order."""
    reading.slides += 1
    reading.blocks.append(("", "slide", reading.slides))
    children = list(page.childNodes)
    title = next((c for c in children if c.nodeType == c.ELEMENT_NODE
                  and c.getAttrNS(_PRESENTATION, "class") == "title"), None)
    if title is None:
        return children
    text = " ".join(_texts(title))
    reading.blocks.append((text, "heading", 1))
    if reading.heading is None and collapse(text):
        reading.heading = text
    return [c for c in children if c is not title]


def _cell_text(cell: Element) -> str:
    return " ".join(_texts(cell))


def _texts(root: Element) -> list[str]:
    """The text of each block under ``root`` (its notes last), each on one line."""
    reading = _Reading()
    _read_blocks(root, reading)
    return [collapse(t) for t in reading.texts() if collapse(t)]


def _inline_text(paragraph: Element, reading: _Reading) -> tuple[str, list[Any]]:
    """A paragraph's text, and the frames in it (text boxes, captions), to be read after it;
    its notes go to ``reading.notes``."""
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
            reading.notes.append(" ".join(_texts(node)))
        elif node.qname[1] == "frame" or node.qname[0] != _TEXT:
            frames.append(node)
        else:
            stack.extend(reversed(node.childNodes))
    return "".join(pieces), frames
