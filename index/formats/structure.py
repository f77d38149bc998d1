"""A document's structure beside its plain text: headings, list items, code, table rows, pages,
OCR'd text, and a web page's parts (comments, furniture).

Formats build their text with ``TextBuilder``, which records where each block and page
starts; chunking uses the headings (a passage never spans two sections), code, lists and
tables (kept whole), pages (a passage knows its page) and parts (nor two parts; furniture
makes no passage), and the document page shows the blocks as they are.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# What a block of text is to a reader; text that no block covers is plain paragraphs. A
# "title" is the document's title where its text states it (a saved page's heading line in a
# .txt): it leads into what follows, as a heading does, but opens no section.
BLOCK_KINDS = ("heading", "title", "item", "code", "row")
PAGE_KINDS = ("page", "slide")
# What a stretch of a web page is; text that no part covers is the article. Furniture (notices,
# menus, share lines, the reply form) is shown but never made into passages.
PART_KINDS = ("comment", "furniture")


@dataclass(frozen=True)
class Block:
    start: int  # offsets into the document's text
    end: int
    kind: str  # one of BLOCK_KINDS
    level: int = 1  # a heading's level (1 the highest), a list item's depth (1 the outermost)


@dataclass(frozen=True)
class Part:
    start: int
    end: int
    kind: str  # one of PART_KINDS
    author: str | None = None  # a comment's, when the page names it


@dataclass(frozen=True)
class Structure:
    blocks: tuple[Block, ...] = ()  # in text order, never overlapping
    # (offset, number) where each page or slide with text starts, in text order; () unpaged.
    pages: tuple[tuple[int, int], ...] = ()
    page_kind: str = "page"  # "page" or "slide"
    ocr: tuple[tuple[int, int], ...] = ()  # (start, end) of text read from images by OCR
    parts: tuple[Part, ...] = ()  # comments and furniture, in text order, never overlapping

    def __bool__(self) -> bool:
        return bool(self.blocks or self.pages or self.ocr or self.parts)

    def regions(self, text: str) -> list[tuple[int, int, tuple[str, ...], Part | None]]:
        """(start, end, heading trail, part or None for the article) of each stretch of text
        that may share passages: sections cut at the edges of parts, in text order."""
        sections = self.sections(text)
        cuts = sorted({0, len(text), *(s for s, _ in sections),
                       *(p.start for p in self.parts), *(p.end for p in self.parts)})
        section_starts = [s for s, _ in sections]
        part_starts = [p.start for p in self.parts]
        regions = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            trail = sections[bisect.bisect_right(section_starts, start) - 1][1]
            i = bisect.bisect_right(part_starts, start) - 1
            part = self.parts[i] if i >= 0 and start < self.parts[i].end else None
            regions.append((start, end, trail, part))
        return regions

    def sections(self, text: str) -> list[tuple[int, tuple[str, ...]]]:
        """(offset, heading trail) where each section starts, in text order: the text before
        the first heading (if any) is a section with an empty trail; each heading starts one
        whose trail is the headings above it and itself, e.g. ("Ownership", "Borrowing")."""
        starts: list[tuple[int, tuple[str, ...]]] = [(0, ())]
        trail: list[tuple[int, str]] = []  # (level, heading) from the top
        heading_end = 0
        for block in self.blocks:
            if block.kind != "heading":
                continue
            while trail and trail[-1][0] >= block.level:
                trail.pop()
            trail.append((block.level, " ".join(text[block.start : block.end].split())))
            names = tuple(name for _, name in trail if name)
            if text[heading_end : block.start].strip():
                starts.append((block.start, names))
            else:  # a heading right under another (or first): one section, the deeper trail
                starts[-1] = (starts[-1][0], names)
            heading_end = block.end
        return starts

    @cached_property
    def _page_offsets(self) -> list[int]:
        return [offset for offset, _ in self.pages]

    def pages_of(self, start: int, end: int) -> tuple[int, int] | None:
        """The first and last page (or slide) numbers of text[start:end]; None if unpaged."""
        if not self.pages:
            return None
        offsets = self._page_offsets  # asked for every passage: made once
        first = max(bisect.bisect_right(offsets, start) - 1, 0)
        last = max(bisect.bisect_right(offsets, max(end - 1, start)) - 1, 0)
        return self.pages[first][1], self.pages[last][1]

    def read_by_ocr(self, start: int, end: int) -> bool:
        """Whether any of text[start:end] was read from an image by OCR."""
        return any(s < end and start < e for s, e in self.ocr)

    def cut(self, length: int) -> Structure:
        """The structure of the text's first ``length`` characters."""
        return Structure(
            tuple(Block(b.start, min(b.end, length), b.kind, b.level)
                  for b in self.blocks if b.start < length),
            tuple(page for page in self.pages if page[0] < length),
            self.page_kind,
            tuple((s, min(e, length)) for s, e in self.ocr if s < length),
            tuple(Part(p.start, min(p.end, length), p.kind, p.author)
                  for p in self.parts if p.start < length),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": [[b.start, b.end, b.kind, b.level] for b in self.blocks],
            "pages": [list(page) for page in self.pages],
            "page_kind": self.page_kind,
            "ocr": [list(span) for span in self.ocr],
            "parts": [[p.start, p.end, p.kind, p.author] for p in self.parts],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Structure:
        return cls(
            tuple(Block(*b) for b in data.get("blocks", ())),
            tuple((offset, number) for offset, number in data.get("pages", ())),
            data.get("page_kind", "page"),
            tuple((s, e) for s, e in data.get("ocr", ())),
            tuple(Part(*p) for p in data.get("parts", ())),
        )


@dataclass
class TextBuilder:
    """A document's text built block by block, blocks separated by a blank line."""

    page_kind: str = "page"
    _pieces: list[str] = field(default_factory=list)
    _length: int = 0
    _blocks: list[Block] = field(default_factory=list)
    _pages: list[tuple[int, int]] = field(default_factory=list)
    _page: int | None = None  # the page the next text is on, if paged
    _ocr: list[tuple[int, int]] = field(default_factory=list)
    _spans: list[tuple[int, int]] = field(default_factory=list)  # every block's, paragraphs too

    def __len__(self) -> int:
        return self._length

    def add(self, text: str, kind: str = "paragraph", level: int = 1, ocr: bool = False) -> None:
        """One block of text (clean: "\\n" line breaks, no control characters); blank is skipped.

        Args:
            kind: "paragraph" (may hold several, separated by blank lines) or a BLOCK_KINDS.
            ocr: the text was read from an image.
        """
        text = text.strip() if kind != "code" else text.strip("\n").rstrip()
        if not text:
            return
        if self._length:
            self._pieces.append("\n\n")
            self._length += 2
        start = self._length
        if self._page is not None and (not self._pages or self._pages[-1][1] != self._page):
            self._pages.append((start, self._page))
        self._pieces.append(text)
        self._length += len(text)
        self._spans.append((start, self._length))
        if kind != "paragraph":
            self._blocks.append(Block(start, self._length, kind, level))
        if ocr:
            self._ocr.append((start, self._length))

    def extend(self, text: str, joint: str = " ") -> None:
        """More of the last paragraph added, after ``joint`` (a space, or "" for the rest of a
        word): a paragraph that runs on from one page to the next is one paragraph that knows
        both pages."""
        text = " ".join(text.split())
        if not text:
            return
        ends_plain = bool(self._spans) and not (
            self._blocks and self._blocks[-1].end == self._length
            or self._ocr and self._ocr[-1][1] == self._length)
        if not ends_plain:  # nothing to run on from: a heading, OCR's text, or no text yet
            self.add(text)
            return
        self._pieces.append(joint)
        self._length += len(joint)
        if self._page is not None and (not self._pages or self._pages[-1][1] != self._page):
            self._pages.append((self._length, self._page))
        self._pieces.append(text)
        self._length += len(text)
        self._spans[-1] = (self._spans[-1][0], self._length)

    def page(self, number: int) -> None:
        """The text added from now on is on this page (or slide), numbered from 1."""
        self._page = number

    @property
    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of every block added, in order."""
        return list(self._spans)

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    @property
    def structure(self) -> Structure:
        return Structure(tuple(self._blocks), tuple(self._pages), self.page_kind,
                         tuple(self._ocr))
