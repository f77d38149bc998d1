"""Where a generation's passage vectors live, behind one small interface.

Two stores, chosen by the ``vector_store`` setting:

- ``faiss`` (the default): vectors.npy and vectors.faiss inside the generation folder.
- ``milvus://HOST:PORT[/NAME]`` or a Milvus Lite file ``PATH.db``: one Milvus collection per
  generation, ``NAME_<generation>``, with the alias ``NAME`` on the live one
  (``index.milvus_store``).

Everything else of a generation (manifest, passage text, the BM25 index) stays in its folder
whichever store holds the vectors: the build and the searcher only talk to ``VectorStore``
and ``VectorIndex``. Passages are keyed by their rowid (1, 2, ...) in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from index.errors import BuildError, IndexMismatchError
from index.vectors import (
    FAISS_FILE,
    VECTORS_FILE,
    load_faiss_index,
    load_vectors,
    save_vectors,
)

FAISS = "faiss"


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
    from index.milvus_store import MilvusStore, is_milvus_uri

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
    from index.milvus_store import MilvusIndex, is_milvus_uri

    return MilvusIndex.open(entry, guard, uri if uri and is_milvus_uri(uri) else entry["uri"])


class FaissStore:
    """Vectors as files in the generation folder: the raw vectors and a FAISS index."""

    uri = FAISS

    def write(
        self, build_folder: Path, generation: str, vectors: NDArray[np.float32], factory: str,
        guard: dict[str, Any], progress: bool,
    ) -> dict[str, Any]:
        # The manifest's checksums over the files are the guard here.
        built = save_vectors(build_folder, vectors, factory, progress)
        return {"uri": FAISS, "index_type": built}

    def publish(self, entry: dict[str, Any]) -> None:
        """Nothing to do: the files are published with their folder."""

    def discard(self, entry: dict[str, Any]) -> None:
        """Nothing to do: the files go with the build folder."""

    def prune(self, keep: set[str]) -> None:
        """Nothing to do: the files go with their generation's folder."""


class FaissIndex:
    """A generation's FAISS index and raw vectors, both memory-mapped."""

    def __init__(self, index: Any, raw: NDArray[np.float32]) -> None:
        self._index = index
        self._raw = raw
        self.count: int = int(index.ntotal)
        self.dimension: int = int(index.d)

    @classmethod
    def open(cls, folder: Path) -> FaissIndex:
        if not (folder / FAISS_FILE).is_file() or not (folder / VECTORS_FILE).is_file():
            raise IndexMismatchError(f"generation {folder.name}: vector files are missing")
        index, raw = load_faiss_index(folder), load_vectors(folder)
        if raw.ndim != 2 or index.ntotal != len(raw) or index.d != raw.shape[1]:
            raise IndexMismatchError(f"generation {folder.name}: vector files do not agree")
        return cls(index, raw)

    def search(self, query: NDArray[np.float32], depth: int) -> list[tuple[int, float]]:
        scores, ids = self._index.search(query.reshape(1, -1), depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def vectors(self, rowids: NDArray[np.int64]) -> NDArray[np.float32]:
        rows: NDArray[np.float32] = self._raw[rowids - 1]
        return rows

    def close(self) -> None:
        # The last references: the FAISS index and numpy's memmap (which holds a file
        # descriptor) are freed here, not whenever the garbage collector gets to them.
        # ``vectors`` returns copies (fancy indexing), so no view outlives the map.
        del self._index, self._raw
