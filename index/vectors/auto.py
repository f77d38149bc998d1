"""The "auto" index type both vector stores build: exact below ANN_THRESHOLD, HNSW above."""

from __future__ import annotations

AUTO = "auto"
# Below this many passages "auto" searches exactly (Flat): there an exact scan costs less
# than encoding the query, while an HNSW graph must be rebuilt on every rebuild. Above it,
# an HNSW graph. The measurements behind it: benchmarks/scale.py, docs/benchmarks.md
# section 5. Small collections (SciFact's 14.6k passages) stay exact.
ANN_THRESHOLD = 20_000
# Links per node of the HNSW graph (16 lose recall@10 at 100k passages).
HNSW_M = 32
# The FAISS index "auto" builds above the threshold: HNSW over vectors stored as 16-bit
# floats, half of Flat's memory; 8-bit storage (SQ8) costs too much recall at 1M passages.
# Milvus builds HNSW with the same links (it keeps its vectors in 32-bit floats).
ANN_FACTORY = f"HNSW{HNSW_M},SQfp16"
# Search breadth of an HNSW graph: the Searcher asks for 1,100 hits, and HNSW returns only
# nodes it visits; FAISS's default of 16 loses most of the recall, and below 512 a search
# at 1M passages returns fewer hits than asked for (docs/benchmarks.md section 5).
HNSW_EF_SEARCH = 512


def resolve_factory(factory: str, count: int, threshold: int | None = None) -> str:
    """The FAISS factory string to build for ``count`` vectors: ``factory`` unless "auto"."""
    if factory != AUTO:
        return factory
    limit = ANN_THRESHOLD if threshold is None else threshold
    return ANN_FACTORY if count >= limit else "Flat"
