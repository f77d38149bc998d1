"""HTML (.html, .htm): the visible text as paragraphs; the title the page states for its article."""

from __future__ import annotations

import codecs
import json
import re
import warnings
from typing import TYPE_CHECKING

from index.formats.decoding import collapse, decode
from index.formats.extraction import Extracted
from index.titles import page_title

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
    # Read before the scripts go: JSON-LD is a <script>.
    headline, publisher = _json_ld_names(soup)
    for tag in soup.find_all(_DROPPED_TAGS):
        if isinstance(tag, Tag) and not tag.decomposed and not _is_note(tag):
            tag.decompose()
    paragraphs = _paragraphs(soup)
    title_tag = soup.find("title")
    stated = [
        _meta(soup, "og:title"), headline, _meta(soup, "twitter:title"),
        title_tag.get_text() if isinstance(title_tag, Tag) else None,
    ]  # fmt: skip
    # An <h1> in the article before any other; those in a header or nav were dropped above.
    article = soup.find(["article", "main"])
    h1s = article.find_all("h1") if isinstance(article, Tag) else []
    headings = [h.get_text() for h in [*h1s, *soup.find_all("h1")]]
    subheading = soup.find(["h2", "h3", "h4", "h5", "h6"])
    if isinstance(subheading, Tag):
        headings.append(subheading.get_text())
    site_names = [_meta(soup, "og:site_name"), _meta(soup, "application-name"), publisher]
    title = page_title(stated, headings, site_names) or (paragraphs[0] if paragraphs else None)
    return Extracted("\n\n".join(paragraphs), title)


def _is_note(tag: Tag) -> bool:
    """An e-book's footnote or endnote: an <aside> that is the text's, not the page's margin."""
    kinds = str(tag.get("epub:type") or "").split()
    return tag.name == "aside" and any(k in _NOTE_TYPES for k in kinds)


def _meta(soup: BeautifulSoup, key: str) -> str | None:
    """The content of <meta property=key> or <meta name=key>, if the page has one."""
    from bs4 import Tag

    for attribute in ("property", "name"):
        tag = soup.find("meta", attrs={attribute: key})
        if isinstance(tag, Tag) and isinstance(content := tag.get("content"), str):
            return content
    return None


def _json_ld_names(soup: BeautifulSoup) -> tuple[str | None, str | None]:
    """The headline and the publisher's (or website's) name in the page's JSON-LD, if any."""
    from bs4 import Tag

    headline = publisher = None
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(script.get_text()) if isinstance(script, Tag) else None
        except ValueError:
            continue  # hand-written JSON-LD is often broken; the other evidence remains
        pending = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, list):
                pending.extend(reversed(item))
            elif isinstance(item, dict):
                if headline is None and isinstance(item.get("headline"), str):
                    headline = item["headline"]
                owner = item.get("publisher")
                if publisher is None and isinstance(owner, dict):
                    publisher = owner.get("name") if isinstance(owner.get("name"), str) else None
                if publisher is None and item.get("@type") == "WebSite":
                    publisher = item.get("name") if isinstance(item.get("name"), str) else None
                pending.extend(reversed(item.get("@graph") or []))
    return headline, publisher


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
