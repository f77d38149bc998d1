"""Reciprocal-rank fusion of ranked hit lists (dense and lexical)."""

from __future__ import annotations

from collections.abc import Sequence

# The constant from Cormack et al. (2009); it damps the weight of the very first ranks.
RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[int, float]]], rrf_k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse lists of (id, score), each best first, into one list of (id, fused score).

    An id scores the sum of 1 / (rrf_k + rank) over the lists it is in (rank from 1); the
    original scores only order each list. Ties go to the smaller id, so the order is stable.
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
