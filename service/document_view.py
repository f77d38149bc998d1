"""How the document page lays out a document: its passages, and in each the text as blocks
(headings, paragraphs, lists, code, table rows) with page or slide markers where they start.

Everything here is text; the template escapes it all (no document HTML is ever rendered).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from index import Document, StoredPassage


@dataclass(frozen=True)
class Shown:
    """One block of text as the page shows it."""

    kind: str  # "paragraph", "heading", "item", "code" or "row"
    level: int  # a heading's level, a list item's depth
    text: str
    repeated: bool = False  # also the end of the previous passage
    page: int | None = None  # the page or slide that starts here, if one does


@dataclass(frozen=True)
class Group:
    """Blocks shown together: a list's items, a table's rows, or one other block."""

    kind: str  # "list", "table" or a Shown kind
    blocks: list[Shown]


@dataclass
class Section:
    """A passage (or text no passage holds: a dropped repeat) as the page shows it."""

    passage_id: str | None
    comment_by: str | None = None  # a reader comment's: its author, or "" if unnamed
    groups: list[Group] = field(default_factory=list)


_GROUPED = {"item": "list", "row": "table"}


def layout(document: Document, passages: list[StoredPassage]) -> list[Section]:
    """The document's text cut at passage bounds, each character shown once where it can be.

    Passages may overlap (a sentence repeated when a long paragraph is cut): the repeat is
    shown muted at the start of the later one. Text between passages that is not whitespace
    (page furniture, a dropped repeat) is shown as a section of its own.
    """
    view = _View(document)
    sections: list[Section] = []
    shown = 0
    for passage in passages:
        if document.text[shown : passage.start].strip():
            sections.append(view.section(None, shown, passage.start, shown))
        fresh = min(max(passage.start, shown), passage.end)
        section = view.section(passage.id, passage.start, passage.end, fresh)
        if passage.part == "comment":
            section.comment_by = passage.author or ""
        sections.append(section)
        shown = max(shown, passage.end)
    if document.text[shown:].strip():
        sections.append(view.section(None, shown, len(document.text), shown))
    return sections


class _View:
    def __init__(self, document: Document) -> None:
        self._text = document.text
        structure = document.structure
        self._blocks = structure.blocks
        self._block_starts = [block.start for block in self._blocks]
        self._pages = dict(structure.pages)
        self._marked: set[int] = set()  # pages whose marker is shown
        self._cuts = sorted({0, len(self._text), *self._pages,
                             *(b.start for b in self._blocks), *(b.end for b in self._blocks)})

    def section(self, passage_id: str | None, start: int, end: int, fresh: int) -> Section:
        """text[start:end] as blocks; text before ``fresh`` is a repeat."""
        section = Section(passage_id)
        inner = self._cuts[bisect.bisect_right(self._cuts, start) : bisect.bisect_left(
            self._cuts, end)]
        points = sorted({start, end, fresh, *inner})
        for cut_start, cut_end in zip(points, points[1:], strict=False):
            text = self._text[cut_start:cut_end].strip("\n")
            if not text.strip():
                continue
            shown = self._shown(cut_start, text, repeated=cut_start < fresh)
            groups = section.groups
            kind = _GROUPED.get(shown.kind, shown.kind)
            last = groups[-1] if groups else None
            # A list's items and a table's rows go together, and a repeat with the rest of
            # its paragraph; a page marker starts a new group.
            joins = last is not None and last.kind == kind and shown.page is None and (
                kind in _GROUPED.values() or (kind == "paragraph" and last.blocks[-1].repeated
                                              and not shown.repeated))
            if joins and last is not None:
                last.blocks.append(shown)
            else:
                groups.append(Group(kind, [shown]))
        return section

    def _shown(self, offset: int, text: str, repeated: bool) -> Shown:
        kind, level = "paragraph", 1
        i = bisect.bisect_right(self._block_starts, offset) - 1
        if i >= 0 and offset < self._blocks[i].end:
            kind, level = self._blocks[i].kind, self._blocks[i].level
            if kind == "title":  # shown as the top heading it is
                kind = "heading"
        page = self._pages.get(offset)
        if page is not None and (repeated or page in self._marked):
            page = None
        if page is not None:
            self._marked.add(page)
        return Shown(kind, level, text, repeated, page)
