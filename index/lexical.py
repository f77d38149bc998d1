"""Lexical analysis for BM25: the terms of a passage or a query, the same way for both.

English words are lower-cased, stripped of accents and possessives, filtered through a stop
list and stemmed (Snowball English). Scripts written without spaces (Chinese, Japanese,
Thai…) have no word boundaries to split at, so their runs become overlapping character
bigrams, the usual trick that lets BM25 match them at all.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# Lucene's English stop words (what Anserini's BM25 baselines use) plus a few question words
# that carry no topic.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with what which who whom how when where why "
    "does do did".split()
)
# Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer, Myanmar: written without word spaces.
_UNSPACED = (
    r"\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff"
)
_TOKEN = re.compile(rf"[{_UNSPACED}]+|[^\W_]+(?:['’][^\W_]+)*")
_IS_UNSPACED = re.compile(rf"[{_UNSPACED}]")
_stemmer = Stemmer.Stemmer("english")


def lexical_terms(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order, repeats kept (term frequency counts)."""
    terms: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if _IS_UNSPACED.match(token):
            terms.extend(_bigrams(token))
            continue
        word = _plain(token.removesuffix("'s").removesuffix("’s"))
        if word and word not in STOP_WORDS:
            terms.append(_stem(word))
    return terms


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


@lru_cache(maxsize=65536)
def _plain(word: str) -> str:
    """Without accents and apostrophes: "café" and "cafe", "don't" and "dont" match."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "").replace(
        "’", ""
    )


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stem: str = _stemmer.stemWord(word)
    return stem
