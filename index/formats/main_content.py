"""A web page's main content: its article without menus, teasers and footers, and apart from
its comments, with the article's date and author (trafilatura; measured in docs/quality.md).

``article(html)`` returns ``None`` when what it finds is too little to trust (see
``MIN_WORDS`` and ``MIN_SHARE``) or is the page's menus and links (``MAX_FURNITURE``):
the caller then keeps the whole page's text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# trafilatura (and lxml, htmldate, dateparser under it) is imported where first needed:
# about 0.1 s, and most folders hold no HTML.
if TYPE_CHECKING:
    from lxml.html import HtmlElement

# An article is kept when it has at least MIN_WORDS words or at least MIN_SHARE of the
# words visible on the page; under both, the extractor has most likely picked a fragment
# (a caption, a teaser, a cookie notice) of a page whose text it could not find. Measured
# on mozilla/readability's test pages (docs/quality.md, "Main content of HTML pages").
MIN_WORDS = 50
MIN_SHARE = 0.25
# When no article is found, trafilatura falls back to the page's whole text, which on a page
# of furniture only is its menus. Such an "article" is told by its words: when at least
# MAX_FURNITURE of them (counted as a bag) are words of the page's links, navigation,
# header, footer, asides and forms, it is not an article. On the readability pages a real
# article reaches at most 0.62 (liberation-1, a short story among many links).
MAX_FURNITURE = 0.8
_FURNITURE = ("a", "nav", "header", "footer", "aside", "form", "button", "select", "label")

_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A CJK character is a word: those languages write no spaces.
_WORDS = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_VISIBLE_TEXT = (
    "//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
    " or ancestor::template or ancestor::head)]"
)
_DATE_PARAMS: Any = {"original_date": True, "extensive_search": False}
_INLINE_CODE_PARENTS = frozenset({
    "pre", "p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "a", "b", "i", "em",
    "strong", "blockquote", "dd", "dt",
})  # fmt: skip
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Article:
    """The main content of a page.

    html: the article as an HTML fragment (``<article>…</article>``) keeping headings
        (h1-h6), paragraphs, lists, quotes, code (``<pre>``), tables, line breaks and
        emphasis; links keep their text and ``href``, no other attribute is kept.
    comments_html: the page's comment section as a fragment of the same kind, or None.
    date: the article's date of publication, ISO 8601 (YYYY-MM-DD), or None.
    author: its author(s) as the page states them ("A; B" for several), or None.
    """

    html: str
    comments_html: str | None
    date: str | None
    author: str | None


def article(html: str, url: str | None = None) -> Article | None:
    """The main content of the page ``html``, or None when too little of it is found.

    ``url`` (where the page came from, if known) only helps to resolve relative links and
    to read a date from the address: nothing is ever fetched.
    """
    import trafilatura
    from trafilatura.settings import Extractor

    tree = _parse(html)
    if tree is None:
        return None
    visible = _word_count(_visible_text(tree))
    furniture = _furniture_words(tree)  # before extraction: trafilatura may change the tree
    options = Extractor(
        output_format="python",
        comments=True,  # apart from the article: Document.commentsbody
        tables=True,
        formatting=True,  # bold/italic, and what lets code blocks and headings keep their kind
        links=True,
        images=False,
        # Off: trafilatura's duplicate cache is shared across calls, so output would depend
        # on which pages were read before.
        dedup=False,
        with_metadata=True,
        url=url,
        # htmldate: the date of first publication, from the page's markup and metadata
        # only; its "extensive search" of free text guesses from any date in the page.
        date_params=_DATE_PARAMS,
    )
    document = trafilatura.bare_extraction(tree, url=url, options=options)
    if document is None or isinstance(document, dict) or document.body is None:
        return None
    found = Counter(_WORDS.findall(_element_text(document.body).casefold()))
    words = found.total()
    if not words or (words < MIN_WORDS and words < MIN_SHARE * visible):
        return None
    if (found & furniture).total() >= MAX_FURNITURE * words:
        return None
    body = _fragment(document.body)
    comments = document.commentsbody
    comments_html = (
        _fragment(comments, tag="section")
        if comments is not None and _element_text(comments).strip()
        else None
    )
    date = document.date if document.date and _ISO_DATE.fullmatch(document.date) else None
    return Article(body, comments_html, date, document.author or None)


def _parse(html: str) -> HtmlElement | None:
    """The page as an lxml tree, or None when it is not HTML at all."""
    from trafilatura.utils import load_html

    # lxml refuses a str that declares its encoding in an XML prolog; load_html handles it.
    try:
        tree: Any = load_html(html)
    except (ValueError, TypeError):
        return None
    return tree if tree is not None and len(tree) else None


def _visible_text(tree: HtmlElement) -> str:
    return " ".join(tree.xpath(_VISIBLE_TEXT))


def _furniture_words(tree: HtmlElement) -> Counter[str]:
    """The words of the page's links, menus, header, footer, asides and forms, as a bag."""
    words: Counter[str] = Counter()
    for node in tree.iter(*_FURNITURE):
        if not any(parent.tag in _FURNITURE for parent in node.iterancestors()):
            words.update(_WORDS.findall(_element_text(node).casefold()))
    return words


def _element_text(element: Any) -> str:
    return " ".join(element.itertext())


def _word_count(text: str) -> int:
    return len(_WORDS.findall(text))


def _fragment(body: Any, tag: str = "article") -> str:
    """trafilatura's internal XML (head, list, item, hi, ref, row, cell…) as plain HTML."""
    from lxml.html import tostring
    from trafilatura.htmlprocessing import convert_to_html

    converted = convert_to_html(body)[0]  # <html><body>…</body></html>: the body
    converted.tag = tag
    # trafilatura's <code> becomes <pre> wherever it stood: a block's stays <pre> (its
    # <code> inside too would nest <pre><pre>), inline code is <code>.
    for element in converted.iter("pre"):
        parent = element.getparent()
        if parent is not None and parent.tag in _INLINE_CODE_PARENTS:
            element.tag = "code"
    converted.attrib.clear()
    return str(tostring(converted, encoding="unicode", method="html")).strip()
