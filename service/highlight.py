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


def query_terms(query: str) -> list[str]:
    """The query's words worth marking: lower-cased, at least 2 characters, no stop words."""
    terms = dict.fromkeys(t.lower() for t in _TERM.findall(query))
    return [t for t in terms if len(t) >= 2 and t not in STOP_WORDS]


def highlight(text: str, query: str) -> Markup:
    """``text`` escaped, with whole-word, case-insensitive matches of the query's words in <mark>.

    Every piece of ``text`` goes through ``escape``, so the result is safe to insert in HTML
    whatever ``text`` and ``query`` hold.
    """
    terms = query_terms(query)
    if not terms:
        return escape(text)
    # Longest first, so that an alternation never stops at a shorter word's prefix.
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)
    pieces: list[str] = []
    shown = 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[shown : match.start()]))
        pieces.append(Markup("<mark>%s</mark>") % match.group())
        shown = match.end()
    pieces.append(escape(text[shown:]))
    return Markup("").join(pieces)
