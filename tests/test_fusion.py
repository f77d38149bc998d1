"""Fusion of dense and lexical rankings: hand-checked cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.fusion import (
    ADAPTIVE_REACH,
    adaptive_weight,
    fuse,
    reciprocal_rank_fusion,
    weighted_fusion,
)


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([[(1, 0.9), (2, 0.8)], [(2, 7.0), (3, 5.0)]])
    assert [item for item, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1][1] == pytest.approx(1 / 61)


def test_weighted_fusion_normalises_each_list() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 20.0), (2, 10.0)]
    fused = dict(weighted_fusion(dense, lexical, alpha=0.5))
    assert fused == pytest.approx({1: 0.5, 2: 0.25 + 0.0, 3: 0.0 + 0.5})
    assert weighted_fusion(dense, lexical, alpha=1.0)[0] == (1, 1.0)


def test_alpha_zero_and_one_reproduce_one_side() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 20.0), (2, 10.0), (4, 1.0)]
    for method in ("rrf", "weighted"):
        # (Min-max puts each list's weakest candidate at 0, level with the absent ones.)
        assert [i for i, _ in fuse(dense, lexical, method, 1.0)][:2] == [1, 2]
        assert [i for i, _ in fuse(dense, lexical, method, 0.0)][:2] == [3, 2]


# A hundred candidates each, scores falling evenly: neither ranking is sure of its first.
EVEN_DENSE = [(i, 0.6 - 0.002 * i) for i in range(100)]
EVEN_LEXICAL = [(i, 9.0 - 0.05 * i) for i in range(100)]


def test_the_adaptive_weight_leans_to_the_ranking_whose_best_stands_out() -> None:
    # A rare name: BM25 matches two passages, the first far above anything else.
    assert adaptive_weight(EVEN_DENSE, [(7, 12.0), (8, 4.0)], 0.5) < 0.4
    # A paraphrase: one passage is much nearer in meaning than the rest, while the words it
    # shares with the query are common ones that many passages hold about as well.
    nearest = [(0, 0.65)] + [(i, 0.45 - 0.001 * i) for i in range(1, 100)]
    assert adaptive_weight(nearest, EVEN_LEXICAL, 0.5) > 0.6
    # Neither stands out: a lean to the dense side, which plain questions need more often.
    assert 0.5 < adaptive_weight(EVEN_DENSE, EVEN_LEXICAL, 0.5) < 0.6


def test_the_adaptive_weight_stays_within_reach_of_alpha() -> None:
    rare = [(7, 50.0)]
    assert adaptive_weight(EVEN_DENSE, rare, 0.5) == pytest.approx(0.5 - ADAPTIVE_REACH)
    assert adaptive_weight(EVEN_DENSE, rare, 0.1) == 0.0
    assert adaptive_weight([], rare, 0.5) == adaptive_weight(EVEN_DENSE, [], 0.5) == 0.5
    assert adaptive_weight(EVEN_DENSE, [(1, 3.0)] * 100, 0.5) <= 0.5 + ADAPTIVE_REACH


_ranking = st.lists(st.tuples(st.integers(1, 50), st.floats(-10, 10)), max_size=30).map(
    lambda pairs: sorted(dict(pairs).items(), key=lambda p: -p[1])
)


@given(dense=_ranking, lexical=_ranking, method=st.sampled_from(["rrf", "weighted", "adaptive"]),
       alpha=st.floats(0, 1))
def test_fusion_properties(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], method: str, alpha: float
) -> None:
    fused = fuse(dense, lexical, method, alpha)
    items = [item for item, _ in fused]
    assert len(items) == len(set(items)), "no duplicates"
    assert set(items) == {i for i, _ in dense} | {i for i, _ in lexical}
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    assert fused == fuse(dense, lexical, method, alpha), "deterministic"
    if dense and lexical and dense[0][0] == lexical[0][0] and 0.01 < alpha < 0.99:
        # Ahead by more than rounding: min-max normalising can round a runner-up within
        # 1e-16 of the top to the same 1.0, and the smaller id then wins the tie.
        strictly_first = all(
            len(r) < 2 or r[0][1] - r[1][1] > 1e-9 * (r[0][1] - r[-1][1]) for r in (dense, lexical)
        )
        if strictly_first:
            assert items[0] == dense[0][0], "first in both lists comes first"
