"""Lexical analysis for BM25: the terms of a passage or a query, the same way for both, and
where a text holds a query's terms (what the pages mark).

English words are lower-cased, stripped of accents and possessives, filtered through a stop
list and stemmed (Snowball English). Scripts written without spaces (Chinese, Japanese,
Thai…) have no word boundaries to split at, so their runs become overlapping character
bigrams, the usual trick that lets BM25 match them at all.

Queries, and only queries, also search for the other form of a place name: the stemmer keeps
"China" and "Chinese", "Italy" and "Italian" apart, and a reader asking about one expects the
other (``expand_query``). Done at query time, it needs no change to built indexes.
``query_terms`` is what a full-text search looks up, and ``matched_spans`` finds those terms
in a text through the same analysis, so a page marks the words BM25 matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
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
# Countries and regions with the adjective (and people) the stemmer cannot reach from them.
# Left out on purpose: names that are also common words or names ("Turkey", "Jordan",
# "Georgia", "Chad", "polish") and "English", which is far more often the language.
_PLACE_ADJECTIVES = """
afghanistan afghan, africa african, albania albanian, algeria algerian, america american,
argentina argentinian argentine, armenia armenian, asia asian, australia australian,
austria austrian, azerbaijan azerbaijani, bahrain bahraini, bangladesh bangladeshi,
belarus belarusian, belgium belgian, bolivia bolivian, bosnia bosnian, brazil brazilian,
britain british, bulgaria bulgarian, cambodia cambodian, canada canadian, chechnya chechen,
chile chilean, china chinese, colombia colombian, croatia croatian, cuba cuban, cyprus cypriot,
denmark danish, egypt egyptian, estonia estonian, ethiopia ethiopian, europe european,
finland finnish, france french, germany german, greece greek, hungary hungarian,
india indian, indonesia indonesian, iran iranian, iraq iraqi, ireland irish,
israel israeli, italy italian, japan japanese, kazakhstan kazakh, kenya kenyan, korea korean,
kuwait kuwaiti, laos laotian, latvia latvian, lebanon lebanese, libya libyan,
lithuania lithuanian, malaysia malaysian, mexico mexican, mongolia mongolian, morocco moroccan,
nepal nepalese nepali, netherlands dutch, nigeria nigerian, norway norwegian, oman omani,
pakistan pakistani, palestine palestinian, peru peruvian, philippines filipino,
portugal portuguese, qatar qatari, romania romanian, russia russian, scotland scottish,
serbia serbian, slovakia slovak, slovenia slovenian, somalia somali, spain spanish,
sudan sudanese, sweden swedish, switzerland swiss, syria syrian, taiwan taiwanese,
tajikistan tajik, thailand thai, tunisia tunisian, ukraine ukrainian, uzbekistan uzbek,
venezuela venezuelan, vietnam vietnamese, wales welsh, yemen yemeni
"""


def lexical_terms(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order, repeats kept (term frequency counts)."""
    terms: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        term = _term(token)
        if term is None:
            terms.extend(_bigrams(token))
        elif term:
            terms.append(term)
    return terms


def query_terms(query: str) -> list[str]:
    """The distinct terms a full-text search for ``query`` looks up, in order: those of its
    words, then those of the other forms of the places it names."""
    return list(dict.fromkeys(lexical_terms(expand_query(query))))


def matched_spans(text: str, terms: AbstractSet[str]) -> Iterator[tuple[int, int]]:
    """(start, end) of each stretch of ``text`` whose term is one of ``terms``, in order.

    A word whose term matches is one stretch ("Running" for "run", "Lavrov" of "Lavrov's";
    never a stop word). In a script written without spaces, the characters of each matching
    bigram are, overlapping ones joined.
    """
    for match in _TOKEN.finditer(text):
        token = match.group()
        term = _term(token.lower())
        if term is None:
            yield from _bigram_spans(token, match.start(), terms)
        elif term and term in terms:
            # The word without its possessive, which its term leaves out too.
            possessive = token[-2:].lower() in ("'s", "’s")
            yield match.start(), match.end() - 2 if possessive else match.end()


def _bigram_spans(run: str, start: int, terms: AbstractSet[str]) -> Iterator[tuple[int, int]]:
    """The stretches of an unspaced run that its matching bigrams cover, as in _bigrams."""
    if len(run) == 1:
        if run in terms:
            yield start, start + 1
        return
    covered: tuple[int, int] | None = None
    for i in range(len(run) - 1):
        if run[i : i + 2] not in terms:
            continue
        if covered and covered[1] >= start + i:
            covered = (covered[0], start + i + 2)
        else:
            if covered:
                yield covered
            covered = (start + i, start + i + 2)
    if covered:
        yield covered


# Entries kept by each cache of word analysis. Queries are analysed by the same functions,
# and a query can be made of any words: 1 << 17 entries let a flood of made-up words hold
# ~53 MiB for good (measured, docs/reliability.md); at this size they hold ~1.5 MiB, and a
# rebuild is no slower (SciFact's corpus: 36k distinct tokens, 96% of lookups still hit).
WORD_CACHE_SIZE = 4096


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _term(token: str) -> str | None:
    """The term of one token: "" for a stop word, None for a run of unspaced script.

    Cached: a rebuild analyses millions of tokens drawn from a far smaller vocabulary.
    """
    if _IS_UNSPACED.match(token):
        return None
    word = _plain(token.removesuffix("'s").removesuffix("’s"))
    return _stem(word) if word and word not in STOP_WORDS else ""


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _plain(word: str) -> str:
    """Without accents and apostrophes: "café" and "cafe", "don't" and "dont" match."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "").replace(
        "’", ""
    )


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _stem(word: str) -> str:
    stem: str = _stemmer.stemWord(word)
    return stem


def expand_query(query: str) -> str:
    """``query`` followed by the other forms of each place name or adjective in it.

    "Chinese deals" becomes "Chinese deals china": BM25 then also finds a passage that says
    "China". Each added word counts as one more query term.
    """
    terms = dict.fromkeys(lexical_terms(query))
    added = dict.fromkeys(
        word for term in terms for word in _place_variants().get(term, ())
        if _stem(word) not in terms
    )
    return " ".join([query, *added]) if added else query


@lru_cache(maxsize=1)
def _place_variants() -> dict[str, tuple[str, ...]]:
    """Stem of each form of a place -> the place's other forms, as words."""
    variants: dict[str, tuple[str, ...]] = {}
    for group in _PLACE_ADJECTIVES.split(","):
        words = group.split()
        for word in words:
            variants[_stem(word)] = tuple(w for w in words if _stem(w) != _stem(word))
    return variants
