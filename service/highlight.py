"""Query-word highlighting of passage text for the web pages, escaped piece by piece."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_TERM = re.compile(r"\w+")
# Words too common to be worth marking; a query made only of them marks nothing.
STOP_WORDS = frozenset("""
    a about an and are as at be been but by can did do does for from had has have he her his
    how if in into is it its me my no not of on or our she so than that the their them then
    there these they this those to too up was we were what when where which who whom why will
    with would you your
""".split())
# Characters of one page that are searched for words to mark; past them text is only
# escaped. Marking costs Python work per word, escaping almost none, and a document page
# may show 2,000,000 characters (index.Config.max_document_chars).
MARKED_CHARS_PER_PAGE = 300_000


def query_terms(query: str) -> frozenset[str]:
    """The query's words worth marking: lower-cased, at least 2 characters, no stop words."""
    terms = (t.lower() for t in _TERM.findall(query))
    return frozenset(t for t in terms if len(t) >= 2 and t not in STOP_WORDS)


class Highlighter:
    """Marks one page's text: the query is analysed once, and the marking work is bounded.

    Its cost is one pass over the text whatever the query holds (a set look-up per word, not
    a pattern with one alternative per query word).
    """

    def __init__(self, query: str, budget: int = MARKED_CHARS_PER_PAGE) -> None:
        self.terms = query_terms(query)
        self.budget = budget  # characters still to be searched on this page

    def __call__(self, text: str) -> Markup:
        """``text`` escaped, with whole-word, case-insensitive matches of the query's words
        in <mark>; safe to insert in HTML whatever ``text`` and the query hold."""
        if not self.terms or self.budget <= 0:
            return escape(text)
        searched, rest = text[: self.budget], text[self.budget :]
        self.budget -= len(searched)
        pieces: list[str] = []
        shown = 0
        for match in _TERM.finditer(searched):
            if match.group().lower() in self.terms:
                pieces.append(escape(searched[shown : match.start()]))
                pieces.append(Markup("<mark>%s</mark>") % match.group())
                shown = match.end()
        pieces.append(escape(searched[shown:] + rest))
        return Markup("").join(pieces)


def highlight(text: str, query: str) -> Markup:
    """One text marked for ``query``, as on a page of its own."""
    return Highlighter(query)(text)
