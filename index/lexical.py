"""Lexical analysis for BM25: the terms of a passage or a query, the same way for both.

English words are lower-cased, stripped of accents and possessives, filtered through a stop
list and stemmed (Snowball English). Scripts written without spaces (Chinese, Japanese,
Thai…) have no word boundaries to split at, so their runs become overlapping character
bigrams, the usual trick that lets BM25 match them at all.

Queries, and only queries, also search for the other form of a place name: the stemmer keeps
"China" and "Chinese", "Italy" and "Italian" apart, and a reader asking about one expects the
other (``expand_query``). Done at query time, it needs no change to built indexes.
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
