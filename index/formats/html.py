"""HTML (.html, .htm): the visible text as paragraphs; the title from <title> or a heading."""

from __future__ import annotations

import codecs
import re
import warnings
from typing import TYPE_CHECKING

from index.formats.decoding import collapse, decode
from index.formats.extraction import Extracted

# bs4 is imported where first needed: most folders hold no HTML, and start-up is most of
# what an incremental rebuild waits for.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import PageElement, Tag

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_DROPPED_TAGS = [
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "svg", "iframe",
]  # fmt: skip
# EPUB 3 marks notes with epub:type (https://www.w3.org/TR/epub-ssv-11/).
_NOTE_TYPES = frozenset({"footnote", "endnote", "rearnote", "note"})
_BLOCK_TAGS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "div", "section",
    "article", "main", "td", "th", "dt", "dd", "figcaption", "tr", "table", "ul", "ol", "br",
})  # fmt: skip


def extract(data: bytes, max_chars: int) -> Extracted:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag, XMLParsedAsHTMLWarning

    markup = decode(data, declared=_declared_charset(data))
    # Neither warning is actionable for a file known to be HTML; pytest would turn them into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_DROPPED_TAGS):
        if isinstance(tag, Tag) and not tag.decomposed and not _is_note(tag):
            tag.decompose()
    paragraphs = _paragraphs(soup)
    candidates = [soup.find("title"), soup.find("h1"), soup.find(["h2", "h3", "h4", "h5", "h6"])]
    title = next(
        (c.get_text() for c in candidates if isinstance(c, Tag) and collapse(c.get_text())),
        paragraphs[0] if paragraphs else None,
    )
    return Extracted("\n\n".join(paragraphs), title)


def _is_note(tag: Tag) -> bool:
    """An e-book's footnote or endnote: an <aside> that is the text's, not the page's margin."""
    kinds = str(tag.get("epub:type") or "").split()
    return tag.name == "aside" and any(k in _NOTE_TYPES for k in kinds)


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    # As browsers do: a UTF-16/32 label without a BOM is wrong, latin-1 and ascii mean cp1252.
    if name.startswith(("utf-16", "utf-32")):
        return None
    return "cp1252" if name in ("iso8859-1", "ascii") else name


def _paragraphs(soup: BeautifulSoup) -> list[str]:
    from bs4.element import NavigableString, PreformattedString, Tag

    paragraphs: list[str] = []
    pieces: list[str] = []

    def end_paragraph() -> None:
        paragraph = collapse("".join(pieces))
        pieces.clear()
        if paragraph:
            paragraphs.append(paragraph)

    # Iterative, with None marking a block's end, so deeply nested markup cannot overflow.
    stack: list[PageElement | None] = [soup]
    while stack:
        node = stack.pop()
        if node is None:
            end_paragraph()
        elif isinstance(node, Tag):
            if node.name == "title":
                continue  # it is the document's title, kept apart from its text
            if node.name in _BLOCK_TAGS:
                end_paragraph()
                stack.append(None)
            stack.extend(reversed(node.contents))
        # Comments, doctypes and processing instructions are PreformattedStrings: not text.
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            pieces.append(str(node))
    end_paragraph()
    return paragraphs
