"""HTML (.html, .htm): the visible text block by block, each block marked as the article's, a
comment's or furniture; the title, date and author the page states for its article.

Navigation is no text: <nav>, <header>, <footer> and <aside> go, and so do the sidebars and
tables of contents ``navigation`` finds by their markup and links. ``main_content`` tells the
article apart from menus, teasers and footers, and from the comments; when it finds none,
comments and furniture are found as in text saved from a web page (``page_parts``). A
documentation page's version notes ("Added in: v8.0.0", a history table) are furniture too.
Furniture stays in the text, shown but made into no passage. Headings (h1-h6) keep their
level, list items their depth of lists; a <pre> is code with its lines; a table row is its
cells joined by " | "; other blocks are paragraphs on one line.
"""

from __future__ import annotations

import codecs
import json
import re
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

from index.formats import main_content
from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted
from index.formats.navigation import navigation
from index.formats.page_parts import extracted_parts, page_parts, with_furniture
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder
from index.titles import page_title

# bs4 is imported where first needed: most folders hold no HTML, and start-up is most of
# what an incremental rebuild waits for.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import PageElement, Tag

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_DROPPED_TAGS = [
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "svg", "iframe", "button",  # a button's label ("Copy") is the page's, not its text's
]  # fmt: skip
# What a heading's permalink shows: documentation sites put one in every heading
# ("Windows vs. POSIX#"), and read as text it glues onto the heading.
_PERMALINK_TEXT = frozenset({"", "#", "¶", "§", "🔗", "link", "permalink", "anchor"})
# What a heading's link to the code it documents or to its editor shows ("Stream[src]"),
# wherever it points.
_SOURCE_LINK_TEXT = frozenset({"[src]", "[source]", "[edit]"})
# EPUB 3 marks notes with epub:type (https://www.w3.org/TR/epub-ssv-11/).
_NOTE_TYPES = frozenset({"footnote", "endnote", "rearnote", "note"})
_BLOCK_TAGS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "div", "section",
    "article", "main", "td", "th", "dt", "dd", "figcaption", "tr", "table", "ul", "ol", "br",
})  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# A section's version notes as documentation sites mark them: Node.js's "Added in: v8.0.0"
# and history table (<div class="api_metadata">, <details class="changelog">), Sphinx's
# "New in version 3.2" (versionadded, versionchanged). Under every heading of an API page,
# they would be most of a short section's passage: they are shown as furniture.
_VERSION_NOTE = re.compile(r"(?:^|[-_])(?:metadata|changelog|versionadded|versionchanged)$",
                           re.IGNORECASE)
# Elements a highlighter wraps each line of code in, often with no newline between them.
_CODE_LINE_TAGS = frozenset({"div", "p", "li", "tr"})
_CODE_LINE_CLASS = re.compile(r"(?:^|[-_])line$", re.IGNORECASE)
_LISTS = frozenset({"ul", "ol"})
# A table row holding any of these lays out a page: it is read as the blocks it holds (and a
# row's cells, read on their own, never hold another row).
_LAYOUT_TAGS = frozenset({*_HEADINGS, "table", "tr", "ul", "ol", "pre", "li"})


def extract(data: bytes, max_chars: int) -> Extracted:
    from bs4 import Tag

    markup = _markup(data)
    soup = _soup(markup)
    # Read before the scripts go: JSON-LD is a <script>.
    headline, publisher = _json_ld_names(soup)
    _drop_chrome(soup)
    built = TextBuilder()
    notes: list[tuple[int, int]] = []
    _add_blocks(soup, built, notes)
    text, found = built.text, main_content.article(markup)
    if found is not None:
        comments = _soup(found.comments_html).get_text(" ") if found.comments_html else None
        starts = frozenset(b.start for b in built.structure.blocks if b.kind == "heading")
        parts = extracted_parts(text, built.spans, _soup(found.html).get_text(" "), comments,
                                starts)
    else:  # no article told apart: comments and furniture found as in text saved from a page
        parts = page_parts(text)
    structure = replace(built.structure, parts=with_furniture(text, parts, notes))
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
    title = page_title(stated, headings, site_names) or first_line(text)
    date, author = (found.date, found.author) if found else (None, None)
    return Extracted(text, title, structure=structure, date=date, author=author)


def visible_text(data: bytes) -> str:
    """The visible text of HTML, block by block, and nothing else (a mail's HTML body, raw
    HTML in Markdown): no main-content extraction, no title."""
    built = TextBuilder()
    add_text(data, built)
    return built.text


def add_text(data: bytes, built: TextBuilder) -> None:
    """Add the visible text of an HTML page to ``built``, block by block (an e-book's chapter)."""
    soup = _soup(_markup(data))
    _drop_chrome(soup)
    _add_blocks(soup, built)


def _markup(data: bytes) -> str:
    return decode(data, declared=_declared_charset(data))


def _soup(markup: str) -> BeautifulSoup:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

    # Neither warning is actionable for a file known to be HTML; pytest would turn them into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(markup, "html.parser")


def _drop_chrome(soup: BeautifulSoup) -> None:
    """Remove what is not the page's text: scripts, styles, navigation, headers, footers..."""
    from bs4 import Tag

    for tag in soup.find_all(_DROPPED_TAGS):
        if isinstance(tag, Tag) and not tag.decomposed and not _is_note(tag):
            tag.decompose()
    for tag in navigation(soup):
        if not tag.decomposed:
            tag.decompose()
    for link in soup.select("h1 a, h2 a, h3 a, h4 a, h5 a, h6 a"):
        label = link.get_text().strip().lower()
        if not link.decomposed and (label in _SOURCE_LINK_TEXT or label in _PERMALINK_TEXT
                                    and str(link.get("href") or "").startswith("#")):
            link.decompose()


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


def _add_blocks(root: Tag, built: TextBuilder,
                notes: list[tuple[int, int]] | None = None) -> None:
    """Add the text under ``root`` block by block: a heading with its level, a list item with
    its depth of lists, a <pre> as code (its lines kept), a table row as its cells joined by
    " | " (a row of a table that lays out a page, holding headings, lists or tables, is read
    as the blocks it holds), anything else as paragraphs.

    With ``notes``, each version note (_VERSION_NOTE) is added at the end of its section,
    before the next heading that follows some text, and its (start, end) added to ``notes``:
    a heading and the text it heads stay together (one passage), the note after them as
    furniture, and a heading with nothing but notes leads into the one after it."""
    from bs4.element import NavigableString, PreformattedString, Tag

    pieces: list[str] = []
    context: list[tuple[str, int]] = []  # (kind, level) of the headings and items around
    lists = 0  # how deep in lists the walk is
    deferred: list[Tag] = []  # the version notes of the section the walk is in
    heading_end = 0  # where the last heading's text ended

    def add_notes() -> None:
        for tag in deferred:
            start = len(built)
            _add_blocks(tag, built)
            if len(built) > start:  # blocks were added: the first after a separator
                assert notes is not None  # only given notes are notes deferred
                notes.append((start + 2 if start else 0, len(built)))
        deferred.clear()

    def end_block() -> None:
        text = collapse("".join(pieces))
        pieces.clear()
        built.add(text, *(context[-1] if context else ("paragraph", 1)))

    # Iterative, with (tag, True) marking a tag's end, so deeply nested markup cannot overflow.
    stack: list[tuple[PageElement, bool]] = [(root, False)]
    while stack:
        node, end = stack.pop()
        if isinstance(node, Tag):
            name = node.name
            if end:
                end_block()
                if name in _HEADINGS or name == "li":
                    context.pop()
                if name in _HEADINGS:
                    heading_end = len(built)
                lists -= name in _LISTS
                continue
            if name == "title":
                continue  # it is the document's title, kept apart from its text
            if name == "br" and context and context[-1][0] == "heading":
                pieces.append(" ")  # a heading broken over two lines is still one
                continue
            if name == "pre":
                end_block()
                built.add(_code_text(node), "code")
                continue
            if name == "tr" and not _lays_out(node):
                end_block()
                cells = [_cell_text(cell) for cell in node.find_all(["td", "th"], recursive=False)]
                if any(cells):
                    built.add(" | ".join(cells), "row")
                continue
            if name in _BLOCK_TAGS and notes is not None and _is_version_note(node):
                end_block()
                deferred.append(node)
                continue
            if name in _BLOCK_TAGS:
                end_block()
                if name in _HEADINGS and len(built) > heading_end:
                    add_notes()
                stack.append((node, True))
                if name in _HEADINGS:
                    context.append(("heading", int(name[1])))
                elif name == "li":
                    context.append(("item", max(lists, 1)))
                lists += name in _LISTS
            stack.extend((child, False) for child in reversed(node.contents))
        # Comments, doctypes and processing instructions are PreformattedStrings: not text.
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            pieces.append(str(node))
    end_block()
    add_notes()


def _is_version_note(tag: Tag) -> bool:
    return any(_VERSION_NOTE.search(name) for name in tag.get_attribute_list("class") if name)


def _code_text(pre: Tag) -> str:
    """A <pre>'s text with its lines: a <br> breaks one, and so does the end of an element
    that holds a line (a highlighter's <span class="line">, a <div>) unless a newline follows."""
    from bs4.element import NavigableString, PreformattedString, Tag

    pieces: list[str] = []
    broken = True  # whether the text so far ends a line
    added = False  # whether that line break was added for an element's end
    stack: list[tuple[PageElement, bool]] = [(child, False) for child in reversed(pre.contents)]
    while stack:
        node, end = stack.pop()
        if isinstance(node, Tag):
            if end:
                if not broken:
                    pieces.append("\n")
                    broken = added = True
            elif node.name == "br":
                pieces.append("\n")
                broken, added = True, False
            else:
                if node.name in _CODE_LINE_TAGS or any(
                        _CODE_LINE_CLASS.search(name)
                        for name in node.get_attribute_list("class") if name):
                    stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            text = str(node)
            if added and text.startswith("\n"):
                text = text[1:]  # the newline the line's element ended with is this one
            if text:
                pieces.append(text)
                broken, added = text.endswith("\n"), False
    return clean("".join(pieces))


def _lays_out(row: Tag) -> bool:
    """Whether a table row holds any of _LAYOUT_TAGS. (Not ``row.find``: bs4 walks to the end
    of the row's markup first, which nested rows make quadratic.)"""
    from bs4.element import Tag

    stack = list(row.contents)
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node.name in _LAYOUT_TAGS:
                return True
            stack.extend(node.contents)
    return False


def _cell_text(cell: Tag) -> str:
    """A table cell's text on one line."""
    built = TextBuilder()
    _add_blocks(cell, built)
    return collapse(built.text)
