"""The sentence that answers: which sentences of a hit's passage are nearest the query in
meaning, by the model that ranked it.

Computed at query time for the hits of one page, not stored at index time. Stored, the
sentence vectors of SciFact's passages (5.2 sentences each) would take 80 MB beside the
31 MB of passage vectors and add 85 s of embedding to a 151 s build; at query time, ten hits
cost one embedding call of their distinct sentences: +38 ms a query at the median on the
sample corpus, +98 ms on SciFact (docs/benchmarks.md, "The sentence that answers"). So it
is asked for: the results page does, the API when told to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from index.chunking import sentence_spans
from index.embedding import Embedder

# The next best sentence is marked too when its cosine to the query is at most this far
# below the best one's: then the model hardly tells which of the two answers. On the
# sample-corpus questions (docs/quality.md) the best sentence alone holds the answer for
# 64 of 69, a margin of 0.05 for 66 at 1.17 sentences marked per hit; 0.1 marks more
# (1.27) for no more answers, 0.2 finds one more at 1.42.
SECOND_SENTENCE_MARGIN = 0.05

# Sentences per model run. Smaller batches than a build's: sorted by length, they pad less,
# and a page's few dozen sentences then keep every core busy. Measured for ten hits on this
# 2-core machine, 16 / 8 / 4 a batch: 65 / 38 / 30 ms for the sample corpus's 14 sentences,
# 115 / 101 / 108 ms for SciFact's 53.
SENTENCE_BATCH = 8

Span = tuple[int, int]


@dataclass(frozen=True)
class ScoredSentences:
    """A text's sentences and their cosines to the query."""

    spans: list[Span]  # (start, end) in the text, in order
    # Cosine of each sentence to the query; empty for a text of one sentence, which is
    # marked without being embedded (there is nothing to choose between).
    scores: NDArray[np.float32]


def score_sentences(
    texts: list[str], query_vector: NDArray[np.float32], embedder: Embedder
) -> list[ScoredSentences]:
    """Each text's sentences scored against the query: the sentences of all texts embedded
    in one call, so a page of hits costs one batch of model runs, not one per hit."""
    spans = [sentence_spans(text) for text in texts]
    sentences = [text[start:end] for text, of_text in zip(texts, spans, strict=True)
                 if len(of_text) > 1 for start, end in of_text]
    # Hits of one document share sentences (a passage cut between sentences repeats the
    # last one): each distinct sentence is embedded once.
    distinct = list(dict.fromkeys(sentences))
    scores = np.empty(0, dtype=np.float32)
    if distinct:
        vectors = embedder.embed_passages(distinct, SENTENCE_BATCH)
        by_sentence = dict(zip(distinct, vectors @ query_vector, strict=True))
        scores = np.array([by_sentence[s] for s in sentences], dtype=np.float32)
    scored: list[ScoredSentences] = []
    taken = 0
    for of_text in spans:
        count = len(of_text) if len(of_text) > 1 else 0
        scored.append(ScoredSentences(of_text, scores[taken : taken + count]))
        taken += count
    return scored


def best_sentences(scored: ScoredSentences, margin: float = SECOND_SENTENCE_MARGIN) -> tuple[
    Span, ...
]:
    """The best sentence, and the next best too when it scores within ``margin`` of it; in
    text order. A text of one sentence: that sentence."""
    if not scored.scores.size:
        return tuple(scored.spans[:1])
    order = np.argsort(-scored.scores, kind="stable")
    chosen = [int(order[0])]
    if len(order) > 1 and scored.scores[order[0]] - scored.scores[order[1]] <= margin:
        chosen.append(int(order[1]))
    return tuple(scored.spans[i] for i in sorted(chosen))


def answer_sentences(
    texts: list[str], query_vector: NDArray[np.float32], embedder: Embedder
) -> list[tuple[Span, ...]]:
    """For each text, the (start, end) of the sentences that best answer the query."""
    return [best_sentences(s) for s in score_sentences(texts, query_vector, embedder)]
