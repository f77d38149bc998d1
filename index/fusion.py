"""Fusing the dense and the lexical ranking of a query into one ranking.

Two methods: reciprocal rank fusion (ranks only) and a weighted sum of min-max normalised
scores. In both, ``alpha`` is the dense side's weight. Ties go to the smaller id, so a
query's ranking is always the same.
"""

from __future__ import annotations

from collections.abc import Sequence

FUSIONS = ("weighted", "rrf")
# The constant from Cormack et al. (2009); it damps the weight of the very first ranks.
RRF_K = 60

Ranking = Sequence[tuple[int, float]]  # (id, score), best first


def fuse(dense: Ranking, lexical: Ranking, method: str, alpha: float) -> list[tuple[int, float]]:
    """One ranking from both; ``alpha`` in [0, 1] is the dense side's weight."""
    if method == "rrf":
        return reciprocal_rank_fusion([dense, lexical], [2 * alpha, 2 * (1 - alpha)])
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
