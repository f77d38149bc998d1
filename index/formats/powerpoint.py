"""PowerPoint (.pptx): each slide's title (a heading), text, tables and speaker notes, slide by
slide, each passage knowing its slide number."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder
from index.formats.zip_archive import unpacked_archive

_DRAWING = "{http://schemas.openxmlformats.org/drawingml/2006/main}"

# python-pptx is imported where first needed: most folders hold no slides, and start-up is
# most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from pptx.shapes.base import BaseShape
    from pptx.slide import Slide


def extract(data: bytes, max_chars: int) -> Extracted:
    from pptx import Presentation

    archive = unpacked_archive(data, "PPTX")
    built = TextBuilder(page_kind="slide")
    first_title = None
    partial = False
    try:
        presentation = Presentation(archive)
        meta_title = presentation.core_properties.title
        for number, slide in enumerate(presentation.slides, 1):
            built.page(number)
            slide_title = _add_slide(slide, built)
            first_title = first_title or slide_title
            if len(built) > max_chars:
                partial = True
                break
    except Exception as exc:  # python-pptx and lxml raise many types for malformed parts
        raise UnreadableDocumentError(f"broken PPTX: {short_message(exc)}") from exc
    title = next((t for t in (meta_title, first_title) if t and collapse(t)), None)
    return Extracted(built.text, title or first_line(built.text), partial,
                     structure=built.structure)


def _add_slide(slide: Slide, built: TextBuilder) -> str | None:
    """Add a slide's text: its title as a heading, then its shapes, then its notes; returns
    the title."""
    title_shape = slide.shapes.title
    title = title_shape.text_frame.text if title_shape is not None else None
    if title and collapse(title):
        built.add(clean(collapse(title)), "heading")
    others = [s for s in slide.shapes if title_shape is None or s.shape_id != title_shape.shape_id]
    for text, kind, level in _shape_text(others):
        built.add(clean(text), kind, level)
    if slide.has_notes_slide and (notes := slide.notes_slide.notes_text_frame) is not None:
        for note in notes.paragraphs:
            built.add(clean(note.text))
    return title


def _shape_text(shapes: Iterable[BaseShape]) -> Iterator[tuple[str, str, int]]:
    """(text, block kind, level) of shapes' paragraphs in their reading order (top to bottom,
    then left to right): a table's rows are rows, bulleted paragraphs list items."""
    from pptx.enum.shapes import PP_PLACEHOLDER
    from pptx.shapes.group import GroupShape

    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if isinstance(shape, GroupShape):
            yield from _shape_text(shape.shapes)
        elif shape.has_text_frame:
            bullets = shape.is_placeholder and shape.placeholder_format.type in (
                PP_PLACEHOLDER.BODY, PP_PLACEHOLDER.OBJECT)
            for p in shape.text_frame.paragraphs:  # type: ignore[attr-defined]
                if _bulleted(p._p, bullets):
                    yield p.text, "item", p.level + 1
                else:
                    yield p.text, "paragraph", 1
        elif getattr(shape, "has_table", False):
            for row in shape.table.rows:  # type: ignore[attr-defined]
                cells = [collapse(cell.text) for cell in row.cells]
                if any(cells):
                    yield " | ".join(cells), "row", 1


def _bulleted(paragraph: Any, by_default: bool) -> bool:
    """Whether a paragraph (its <a:p>) shows a bullet or number: as its own properties say,
    else as its placeholder does (a body placeholder's paragraphs are bullets)."""
    properties = paragraph.pPr
    if properties is not None:
        if properties.find(f"{_DRAWING}buNone") is not None:
            return False
        if any(properties.find(f"{_DRAWING}{tag}") is not None for tag in ("buChar", "buAutoNum")):
            return True
    return by_default
