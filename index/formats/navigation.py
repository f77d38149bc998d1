"""A web page's navigation found by its markup and its links, beyond <nav>: what a reader's
eye skips to reach the text (measured in docs/quality.md, "HTML documentation pages").

Documentation sites put a list of all their pages (a sidebar) and the page's table of
contents before the article, often in plain <div>s and <details>; read as text, they became
the first passages of every page. Navigation is:

- an element marked as such: ``role="navigation"``, or a class or id naming a table of
  contents, a sidebar or a menu ("toc", "sidebar", "menu"...);
- a block at the start of the page, before any heading or sentence, that is mostly links
  and holds no heading or paragraph (a wrapper of sidebar and article can be mostly links).

Either must be mostly links (``MIN_LINK_SHARE`` of its text, a <details>'s label aside), so
that a page whose wrapper has a "has-sidebar" class, or an article in a "menu" section, is
never taken for navigation; a leading block must hold ``MIN_LINKS`` links or more (a byline
of one linked name is not navigation), a marked one a single link (a table of contents of
one heading).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4.element import PageElement, Tag

MIN_LINK_SHARE = 0.6
MIN_LINKS = 3
# Words of loose text (a stray template marker, a "Node.js" logo's alt text) that may stand
# before the navigation without being the article's start.
_STRAY_WORDS = 3
# What may be navigation: blocks, never inline markup (a link styled "nav-link" in a sentence).
_BLOCKS = frozenset({"div", "ul", "ol", "section", "details", "table", "dl", "menu"})
# Blocks the walk looks into for the navigation at the start: they hold the whole page.
_WRAPPERS = frozenset({"html", "body", "main", "article", "div", "section"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_NAMED = re.compile(
    r"(?:^|[-_])(?:toc|table-?of-?contents|sidebar|side-?nav|side-?menu|menu|navbar|"
    r"navigation|breadcrumbs?)(?:$|[-_])",
    re.IGNORECASE,
)


def navigation(root: Tag) -> list[Tag]:
    """The navigation blocks under ``root``, outermost first; some may hold others."""
    named = [tag for tag in root.find_all(_BLOCKS) if _is_named(tag) and _mostly_links(tag, 1)]
    return named + _leading_link_blocks(root)


def _is_named(tag: Tag) -> bool:
    if str(tag.get("role") or "").lower() == "navigation":
        return True
    names = [*tag.get_attribute_list("class"), str(tag.get("id") or "")]
    return any(_NAMED.search(name) for name in names if name)


def _mostly_links(tag: Tag, min_links: int = MIN_LINKS) -> bool:
    # A <details>'s label ("Table of contents") is not its text: a page's table of contents
    # may hold a single link.
    labels = sum(len("".join(label.get_text().split())) for label in tag.find_all("summary"))
    text = len("".join(tag.get_text().split())) - labels
    links = tag.find_all("a")
    linked = sum(len("".join(link.get_text().split())) for link in links)
    return len(links) >= min_links and linked >= MIN_LINK_SHARE * text > 0


def _leading_link_blocks(root: Tag) -> list[Tag]:
    """The blocks of mostly links that come before the page's first heading or sentence. A
    page of nothing but links (an index of pages) keeps its last block: that is its text."""
    from bs4.element import NavigableString, PreformattedString, Tag

    found: list[Tag] = []
    stack: list[PageElement] = list(reversed(root.contents))  # in document order
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node.name in _HEADINGS:
                return found
            if node.name in ("head", "title") or not node.get_text().strip():
                continue
            if (node.name in _BLOCKS and _mostly_links(node)
                    and not node.find(["p", *_HEADINGS])):
                found.append(node)
            elif node.name in _WRAPPERS:
                stack.extend(reversed(node.contents))
            elif len(node.get_text().split()) > _STRAY_WORDS:
                return found
        # Comments and doctypes are PreformattedStrings: not text.
        elif (isinstance(node, NavigableString) and not isinstance(node, PreformattedString)
              and len(node.split()) > _STRAY_WORDS):
            return found
    return found[:-1]
