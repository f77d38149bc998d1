"""Where a generation's passage vectors live: the store interface, and the policy both stores share.

Two stores, chosen by the ``vector_store`` setting:

- ``faiss`` (the default): vectors.npy and vectors.faiss inside the generation folder
  (``index.vectors.faiss``).
- ``milvus://HOST:PORT[/NAME]`` or a Milvus Lite file ``PATH.db``: one Milvus collection per
  generation, ``NAME_<generation>``, with the alias ``NAME`` on the live one
  (``index.vectors.milvus``).

Everything else of a generation (manifest, passage text, the BM25 index) stays in its folder
whichever store holds the vectors: the build and the searcher only talk to ``VectorStore``
and ``VectorIndex``. Passages are keyed by their rowid (1, 2, ...) in both. Each store's
module, and its library (faiss, pymilvus), is imported only when a store of its kind is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from index.errors import BuildError

FAISS = "faiss"

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


class VectorIndex(Protocol):
    """One generation's vectors, open for search; shared by every request thread."""

    count: int
    dimension: int

    def search(self, query: NDArray[np.float32], depth: int) -> list[tuple[int, float]]:
        """The ``depth`` nearest passages as (rowid, cosine), best first."""
        ...

    def vectors(self, rowids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The stored vectors of these passages, in the order asked."""
        ...


class VectorStore(Protocol):
    """Writes, publishes and opens generations' vectors."""

    uri: str  # as recorded in manifests: "faiss", "milvus://127.0.0.1:19530/search", ...

    def write(
        self, build_folder: Path, generation: str, vectors: NDArray[np.float32], factory: str,
        guard: dict[str, Any], progress: bool,
    ) -> dict[str, Any]:
        """Store a new generation's vectors (row i is rowid i + 1); returns its manifest entry.

        ``guard`` (model name, checksums, dimension) is kept with the vectors where the store
        can keep it, so a reader can check them without the manifest.
        """
        ...

    def publish(self, entry: dict[str, Any]) -> None:
        """Mark the written generation as the live one, atomically."""
        ...

    def discard(self, entry: dict[str, Any]) -> None:
        """Remove what ``write`` stored, for a build that failed before publishing."""
        ...

    def prune(self, keep: set[str]) -> None:
        """Remove the vectors of every generation not named in ``keep``."""
        ...


def open_vector_store(uri: str) -> VectorStore:
    """The store a ``vector_store`` setting names.

    Raises:
        BuildError: an unknown kind of store, or Milvus is unreachable.
    """
    if uri == FAISS:
        from index.vectors.faiss import FaissStore

        return FaissStore()
    from index.vectors.milvus import MilvusStore, is_milvus_uri

    if is_milvus_uri(uri):
        return MilvusStore.connect(uri)
    raise BuildError(
        f"unknown vector store {uri!r}: use faiss, milvus://HOST:PORT[/NAME] or a Milvus "
        "Lite file PATH.db"
    )


def store_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    """A generation's vector store entry (generations before stores had one are FAISS)."""
    entry: dict[str, Any] = manifest.get("vector_store") or {"uri": FAISS}
    return entry


def open_vector_index(
    folder: Path, manifest: dict[str, Any], guard: dict[str, Any], uri: str | None = None
) -> VectorIndex:
    """Open the vectors of the generation in ``folder``.

    Args:
        guard: what the vectors must have been made with (checked where the store keeps it).
        uri: where to reach the generation's store if not where the build wrote it (a
            replica reaching Milvus by another address); ignored for FAISS generations.
    Raises:
        IndexMismatchError: the vectors are missing, damaged or from another model.
    """
    entry = store_entry(manifest)
    if entry["uri"] == FAISS:
        from index.vectors.faiss import FaissIndex

        return FaissIndex.open(folder)
    from index.vectors.milvus import MilvusIndex, is_milvus_uri

    return MilvusIndex.open(entry, guard, uri if uri and is_milvus_uri(uri) else entry["uri"])
