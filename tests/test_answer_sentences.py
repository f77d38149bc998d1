"""The sentence that answers: sentence spans, the picking rule, and the real model choosing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Config, Embedder, IndexFolder, Searcher, SearchRequest, load_seed_queries
from index.answer_sentences import (
    SECOND_SENTENCE_MARGIN,
    ScoredSentences,
    answer_sentences,
    best_sentences,
    score_sentences,
)
from index.chunking import sentence_spans
from index.evaluation import answer_spans, marked_whole

ROOT = Path(__file__).resolve().parent.parent
# The sample corpus's questions: the repository's and the shared seed ones (if present).
QUESTIONS = (ROOT / "eval" / "sample_queries.jsonl",
             ROOT.parent / "shared" / "eval" / "seed_dev_queries.jsonl")

FERRY = ("The night ferry leaves the north pier at ten. The harbour master is Anna Berg, who "
         "has run the port since 2009. Storms cancel the crossing about twenty nights a year.")
# A sample-corpus question (eval/sample_queries.jsonl) and the sentence that answers it.
DOLLARS = "commenter says US dollars were sent to Iraqi banks to be stolen and buy loyalty"
DOLLARS_ANSWER = (
    "The amounts of cash, wood pallets stacked high with real dollars, which the USA "
    "intentionally delivered to banks in Iraq, to be intentionally stolen, at gun point or "
    "not, and used to buy loyalty if only temporary ."
)


def texts_of(text: str, spans: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> list[str]:
    return [text[start:end] for start, end in spans]


def test_sentence_spans_follow_the_chunking_rules() -> None:
    text = "  Mr. Smith met Dr. J. Doe in the U.S. capital. “Why?” he asked.  It rained.  "

    assert texts_of(text, sentence_spans(text)) == [
        "Mr. Smith met Dr. J. Doe in the U.S. capital.", "“Why?” he asked.", "It rained."]
    assert texts_of("one sentence without an end", sentence_spans("one sentence without an end")
                    ) == ["one sentence without an end"]
    assert sentence_spans("") == []


def scored(*scores: float) -> ScoredSentences:
    spans = [(10 * i, 10 * i + 9) for i in range(len(scores))]
    return ScoredSentences(spans, np.array(scores, dtype=np.float32))


def test_the_best_sentence_alone_unless_the_next_is_close() -> None:
    assert best_sentences(scored(0.1, 0.6, 0.3)) == ((10, 19),)
    # Within the margin: both, in text order.
    close = 0.6 - SECOND_SENTENCE_MARGIN / 2
    assert best_sentences(scored(close, 0.1, 0.6)) == ((0, 9), (20, 29))
    assert best_sentences(scored(0.6 - 2 * SECOND_SENTENCE_MARGIN, 0.6)) == ((10, 19),)
    assert best_sentences(scored(0.5, 0.2, 0.1), margin=1.0) == ((0, 9), (10, 19))


def test_a_one_sentence_text_is_marked_whole_without_the_model() -> None:
    class NoModel:
        def embed_passages(self, texts: list[str], batch_size: int) -> None:
            raise AssertionError(f"embedded {texts}")

    text = "The harbour master decides by six in the evening."
    query = np.ones(3, dtype=np.float32)

    assert answer_sentences([text], query, NoModel()) == [((0, len(text)),)]  # type: ignore[arg-type]


def test_the_model_marks_the_sentence_that_answers(embedder: Embedder) -> None:
    query = embedder.embed_query("who runs the harbour")

    marked, = answer_sentences([FERRY], query, embedder)

    assert texts_of(FERRY, marked) == [
        "The harbour master is Anna Berg, who has run the port since 2009."]


def test_all_hits_are_scored_in_one_embedding_call(embedder: Embedder) -> None:
    calls: list[list[str]] = []

    class Counting:
        def embed_passages(self, texts: list[str], batch_size: int) -> np.ndarray:  # type: ignore[type-arg]
            calls.append(texts)
            return embedder.embed_passages(texts, batch_size)

    other = "Ferries sail every morning. The pier was rebuilt. " + FERRY
    query = embedder.embed_query("when does the night ferry leave")
    result = score_sentences([FERRY, "One line.", other], query, Counting())  # type: ignore[arg-type]

    assert len(calls) == 1
    # Each distinct sentence once: the ferry text's sentences are shared by the third text.
    assert sorted(calls[0]) == sorted({s for t in (FERRY, other)
                                       for s in texts_of(t, sentence_spans(t))})
    assert [len(r.scores) for r in result] == [3, 0, 5]
    assert result[0].scores.tolist() == result[2].scores[2:].tolist()


def test_the_searcher_marks_the_answer_of_sample_questions(
    sample_index: Config, embedder: Embedder
) -> None:
    searcher = Searcher.open(IndexFolder(sample_index.index_dir).current(), embedder)
    try:
        hits = searcher.search(SearchRequest(DOLLARS, highlights=True)).hits
        plain = searcher.search(SearchRequest(DOLLARS)).hits
        spokesman = searcher.search(SearchRequest(
            "who speaks for the Russian foreign ministry", highlights=True)).hits
    finally:
        searcher.close()

    # A comment of ten sentences: the third, the one about the pallets of dollars.
    text = hits[0].passage.text
    assert len(sentence_spans(text)) == 10
    assert texts_of(text, hits[0].highlights) == [DOLLARS_ANSWER]
    assert all(hit.highlights for hit in hits)
    assert all(hit.highlights == () for hit in plain)
    # A passage of one sentence: that sentence.
    answering = next(hit for hit in spokesman if "Alexander Yakovenko" in hit.passage.text)
    assert answering.highlights == ((0, len(answering.passage.text)),)


@pytest.mark.slow
def test_the_marks_hold_the_answer_of_nine_in_ten_sample_questions(
    sample_index: Config, embedder: Embedder
) -> None:
    """Issue 17's target, as benchmarks/answer_sentences.py measures it: of the questions
    with a hit holding the answer in the top 10 (hybrid), the top such hit's marked
    sentences hold it for at least 0.9 of them (66 of 69 when last measured)."""
    questions = [q for path in QUESTIONS if path.exists() for q in load_seed_queries(path)]
    searcher = Searcher.open(IndexFolder(sample_index.index_dir).current(), embedder)
    held = []
    try:
        for question in questions:
            hits = searcher.search(SearchRequest(question.q, k=10, highlights=True)).hits
            answering = next((hit for hit in hits if hit.passage.document_id == question.doc
                              and answer_spans(hit.passage.text, question.answers)), None)
            if answering is not None:
                held.append(any(marked_whole(found, answering.highlights) for found in
                                answer_spans(answering.passage.text, question.answers)))
    finally:
        searcher.close()
    assert len(questions) >= 56 and len(held) >= 0.9 * len(questions)
    assert sum(held) / len(held) >= 0.9, f"{sum(held)} of {len(held)}"
