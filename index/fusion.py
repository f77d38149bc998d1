"""Fusing the dense and the lexical ranking of a query into one ranking.

Three methods: reciprocal rank fusion (ranks only), a weighted sum of min-max normalised
scores, and that sum with the weight adapted to the query ("adaptive"). In each, ``alpha``
is the dense side's weight. Ties go to the smaller id, so a query's ranking is always the
same.
"""

from __future__ import annotations

from collections.abc import Sequence

FUSIONS = ("adaptive", "weighted", "rrf")
# The constant from Cormack et al. (2009); it damps the weight of the very first ranks.
RRF_K = 60
# Adaptive fusion moves the dense weight by this much for each standard deviation by which
# the dense ranking's best score stands out of its candidates more than the lexical one's
# does, and by at most ADAPTIVE_REACH either way. Chosen on SciFact train, NFCorpus dev and
# two documentation sets (docs/quality.md, "A dense weight for each query").
ADAPTIVE_SLOPE = 0.05
ADAPTIVE_LEAN = 1.0
ADAPTIVE_REACH = 0.3
STANDOUT_DEPTH = 100

Ranking = Sequence[tuple[int, float]]  # (id, score), best first


def fuse(dense: Ranking, lexical: Ranking, method: str, alpha: float) -> list[tuple[int, float]]:
    """One ranking from both; ``alpha`` in [0, 1] is the dense side's weight."""
    if method == "rrf":
        return reciprocal_rank_fusion([dense, lexical], [2 * alpha, 2 * (1 - alpha)])
    if method == "adaptive":
        alpha = adaptive_weight(dense, lexical, alpha)
    return weighted_fusion(dense, lexical, alpha)


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None, rrf_k: int = RRF_K
) -> list[tuple[int, float]]:
    """An id scores the sum of weight / (rrf_k + rank) over the rankings it is in (rank from 1).

    Weights default to 1 each, which is plain RRF.
    """
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (rrf_k + rank)
    return _ordered(fused)


def weighted_fusion(dense: Ranking, lexical: Ranking, alpha: float) -> list[tuple[int, float]]:
    """alpha * dense + (1 - alpha) * lexical, each min-max normalised over its own list.

    An id missing from a list gets 0 from it, the score of that list's weakest candidate.
    """
    fused: dict[int, float] = {}
    for ranking, weight in ((dense, alpha), (lexical, 1.0 - alpha)):
        if not ranking:
            continue
        scores = [score for _, score in ranking]
        low, spread = min(scores), max(scores) - min(scores)
        for item, score in ranking:
            normalised = (score - low) / spread if spread > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * normalised
    return _ordered(fused)


def _ordered(fused: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def adaptive_weight(dense: Ranking, lexical: Ranking, alpha: float) -> float:
    """``alpha`` moved toward the ranking that is surer of its best candidate.

    A ranking is as sure as its best score stands out of its first STANDOUT_DEPTH scores,
    counted in standard deviations; where BM25 matched fewer passages, the rest count as 0.
    So a rare name that two passages hold stands out far, and so does a passage nearest in
    meaning to a paraphrase whose words it does not share; words that many passages hold
    do not.
    """
    if not dense or not lexical:
        return alpha
    surer = _standout(dense[:STANDOUT_DEPTH]) - _standout(lexical[:STANDOUT_DEPTH])
    moved = alpha + ADAPTIVE_SLOPE * (surer + ADAPTIVE_LEAN)
    return min(1.0, alpha + ADAPTIVE_REACH, max(0.0, alpha - ADAPTIVE_REACH, moved))


def _standout(ranking: Ranking) -> float:
    """How many standard deviations the best score lies above the mean of STANDOUT_DEPTH
    scores: the ranking's, and 0 for each candidate it falls short of that."""
    scores = [score for _, score in ranking] + [0.0] * (STANDOUT_DEPTH - len(ranking))
    mean = sum(scores) / STANDOUT_DEPTH
    deviation = (sum((score - mean) ** 2 for score in scores) / STANDOUT_DEPTH) ** 0.5
    return (scores[0] - mean) / deviation if deviation > 0 else 0.0
