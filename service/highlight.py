"""Query-word highlighting of passage text for the web pages, escaped piece by piece.

A page marks the words the full-text search matched: the query's terms and the text's words
go through the one analysis of index.lexical (stemmed, stop words dropped, places' other
forms added), so "running" marks "runs" and "Running", and "the" is never marked. A result
also marks the sentences that answer the query by meaning (index.answer_sentences).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from index import matched_spans, query_terms

# Characters of one page that are searched for words to mark; past them text is only
# escaped. Marking costs Python work per word, escaping almost none, and a document page
# may show 2,000,000 characters (index.Config.max_document_chars).
MARKED_CHARS_PER_PAGE = 300_000


class Highlighter:
    """Marks one page's text: the query is analysed once, and the marking work is bounded.

    Its cost is one pass over the text whatever the query holds (a set look-up per word, not
    a pattern with one alternative per query word). It marks all of the query's terms, where
    the search looks up the first index.store.MAX_QUERY_TERMS, more than real queries have.
    """

    def __init__(self, query: str, budget: int = MARKED_CHARS_PER_PAGE) -> None:
        self.terms = frozenset(query_terms(query))
        self.budget = budget  # characters still to be searched on this page

    def __call__(self, text: str, answers: Sequence[tuple[int, int]] = ()) -> Markup:
        """``text`` escaped, with the words that match the query's terms in <mark> and each
        of ``answers`` (offsets of the sentences that answer the query, in order, apart) in
        <span class="answer">; safe to insert in HTML whatever ``text`` and the query hold."""
        if not answers:
            return self._mark_words(text)
        pieces: list[str] = []
        shown = 0
        for start, end in answers:
            # A sentence is whole words, so no word is cut between two pieces.
            pieces.append(self._mark_words(text[shown:start]))
            pieces.append(Markup('<span class="answer">%s</span>')
                          % self._mark_words(text[start:end]))
            shown = end
        pieces.append(self._mark_words(text[shown:]))
        return Markup("").join(pieces)

    def _mark_words(self, text: str) -> Markup:
        if not self.terms or self.budget <= 0:
            return escape(text)
        searched, rest = text[: self.budget], text[self.budget :]
        self.budget -= len(searched)
        pieces: list[str] = []
        shown = 0
        for start, end in matched_spans(searched, self.terms):
            pieces.append(escape(searched[shown:start]))
            pieces.append(Markup("<mark>%s</mark>") % searched[start:end])
            shown = end
        pieces.append(escape(searched[shown:] + rest))
        return Markup("").join(pieces)


def highlight(text: str, query: str) -> Markup:
    """One text marked for ``query``, as on a page of its own."""
    return Highlighter(query)(text)
