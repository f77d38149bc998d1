"""BM25 terms: one analysis for passages and queries, and FTS5 queries that cannot break."""

from __future__ import annotations

import random
import string
import tracemalloc
from pathlib import Path

import pytest

from index.chunking import Passage
from index.documents import Document
from index.lexical import expand_query, lexical_terms, query_terms
from index.store import PassageStore, PassageStoreWriter


def test_english_words_are_stemmed_and_stop_words_dropped() -> None:
    assert lexical_terms("The ministries are running studies") == ["ministri", "run", "studi"]


def test_possessives_accents_and_apostrophes_fold() -> None:
    assert lexical_terms("Russia's café") == lexical_terms("russia cafe")
    assert lexical_terms("don’t") == lexical_terms("dont")


def test_unspaced_scripts_become_bigrams() -> None:
    assert lexical_terms("北京大学") == ["北京", "京大", "大学"]
    assert lexical_terms("東 Tokyo") == ["東", "tokyo"]


def test_made_up_query_words_do_not_pile_up_in_memory() -> None:
    # A flood of queries made of distinct made-up words, as tried against the service: the
    # word caches must not keep what they see (with 1 << 17 entries they held ~53 MiB).
    rng = random.Random(7)
    queries = [" ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 7)))
                        for _ in range(250)) for _ in range(200)]
    lexical_terms("warm up")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for query in queries:
            lexical_terms(query)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 4 * 2**20, f"{held / 2**20:.1f} MiB held after 50,000 made-up words"


def test_only_stop_words_give_no_terms() -> None:
    assert lexical_terms("who is the") == []


def test_a_query_naming_a_place_also_searches_its_adjective_and_back() -> None:
    assert lexical_terms(expand_query("Chinese construction")) == lexical_terms(
        "Chinese construction China"
    )
    assert lexical_terms(expand_query("Italy")) == lexical_terms("Italy Italian")
    assert lexical_terms(expand_query("the Italians")) == lexical_terms("Italians Italy")
    assert lexical_terms(expand_query("Dutch farms")) == lexical_terms("Dutch farms Netherlands")


def test_expansion_leaves_other_queries_alone() -> None:
    assert expand_query("troops in the desert") == "troops in the desert"
    assert expand_query("China and the Chinese") == "China and the Chinese"  # has both already
    assert expand_query("北京大学") == "北京大学"


@pytest.fixture
def store(tmp_path: Path) -> PassageStore:
    writer = PassageStoreWriter(tmp_path / "passages.sqlite")
    texts = [
        "Russian troops may be sent to Iraq this fall.",
        "北京大学的研究人员发表了新论文。",
        "A spokesman for the foreign ministry spoke.",
        'Quotes "and" stars* and NEAR(words) in text.',
    ]
    for i, text in enumerate(texts):
        document = Document(f"d{i}", f"Doc {i}", f"d{i}.txt", text, f"h{i}")
        writer.add(document, [(f"p{i}", Passage(0, len(text), text))])
    writer.finish()
    return PassageStore.open(tmp_path / "passages.sqlite")


def test_lexical_search_ranks_matching_passages(store: PassageStore) -> None:
    def ranked(query: str) -> list[int]:
        return [rowid for rowid, _ in store.lexical_search(query_terms(query), 10)]

    assert ranked("ministries spokesmen") == [3]
    assert ranked("北京大学") == [2]
    hits = store.lexical_search(query_terms("troops in Iraq"), 10)
    assert hits[0][0] == 1 and hits[0][1] > 0


def test_expanded_query_finds_the_other_form_of_a_place(store: PassageStore) -> None:
    # the stemmer alone cannot reach "Iraq"
    assert store.lexical_search(lexical_terms("Iraqi"), 10) == []
    assert [rowid for rowid, _ in store.lexical_search(query_terms("Iraqi"), 10)] == [1]


def test_lexical_search_within_allowed_rowids(store: PassageStore) -> None:
    assert store.lexical_search(
        query_terms("troops spokesman"), 10, allowed=[3]
    ) == store.lexical_search(query_terms("spokesman"), 10)
    assert store.lexical_search(query_terms("troops"), 10, allowed=[]) == []


@pytest.mark.parametrize(
    "query", ['"', 'a" OR "b', "NEAR(a b)", "stars*", "-troops", "AND OR NOT", "^x", "col:troops",
              "", "   ", "()", "{a b}"],
)
def test_fts_syntax_in_a_query_is_just_text(store: PassageStore, query: str) -> None:
    store.lexical_search(query_terms(query), 10)  # must not raise
