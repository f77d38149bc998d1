"""Where a generation's passage vectors live: the store interface and the choice of store.

Two stores, chosen by the ``vector_store`` setting:

- ``faiss`` (the default): vectors.npy and vectors.faiss inside the generation folder
  (``index.vectors.faiss``).
- ``milvus://HOST:PORT[/NAME]`` or a Milvus Lite file ``PATH.db``: one Milvus collection per
  generation, ``NAME_<generation>``, with the alias ``NAME`` on the live one
  (``index.vectors.milvus``).

Everything else of a generation (manifest, passage text, the BM25 index) stays in its folder
whichever store holds the vectors: the build and the searcher only talk to ``VectorStore``
and ``VectorIndex``. Passages are keyed by their rowid (1, 2, ...) in both. Both build the
index type "auto" the same way (``index.vectors.auto``). pymilvus is imported only when a
Milvus store is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from index.errors import BuildError
from index.vectors.auto import (
    ANN_FACTORY,
    ANN_THRESHOLD,
    AUTO,
    HNSW_EF_SEARCH,
    HNSW_M,
    resolve_factory,
)
from index.vectors.faiss import FAISS, FaissIndex, FaissStore
from index.vectors.milvus import MilvusIndex, MilvusStore, is_milvus_uri

__all__ = [
    "ANN_FACTORY",
    "ANN_THRESHOLD",
    "AUTO",
    "FAISS",
    "HNSW_EF_SEARCH",
    "HNSW_M",
    "VectorIndex",
    "VectorStore",
    "open_vector_index",
    "open_vector_store",
    "resolve_factory",
    "store_entry",
]

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

    def close(self) -> None:
        """Let go of what this holds open (files, maps); no search may follow."""
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
        return FaissStore()
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
        return FaissIndex.open(folder)
    return MilvusIndex.open(entry, guard, uri if uri and is_milvus_uri(uri) else entry["uri"])
