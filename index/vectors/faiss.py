"""Passage vectors in FAISS files inside the generation folder, searched by inner product.

A generation keeps the raw vectors in vectors.npy (row i is passage rowid i + 1) beside the
FAISS index built from them: rebuilds reuse vectors exactly, whatever lossy index type is
configured, and filtered queries can score a subset exactly. Inner product is cosine here:
every vector is normalised.

The index type is a FAISS factory string, or "auto" (``index.vectors.auto``):
exact search (``Flat``) for small collections, an HNSW graph above ``ANN_THRESHOLD`` passages.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

# The FAISS library: absolute imports never resolve to this module (index.vectors.faiss).
import faiss
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from index.errors import BuildError, IndexMismatchError
from index.vectors.auto import HNSW_EF_SEARCH, resolve_factory

logger = logging.getLogger(__name__)

FAISS = "faiss"  # this store's vector_store setting and manifest uri
VECTORS_FILE = "vectors.npy"
FAISS_FILE = "vectors.faiss"

# An IVF index scans nprobe of its nlist clusters: 1/32 of them, but at least 16.
IVF_MIN_NPROBE = 16
IVF_PROBE_FRACTION = 32
# Vectors added per step when building, so long builds can show progress.
_ADD_CHUNK = 50_000
# FAISS 1.15 (installed) maps the index file's arrays into memory instead of copying them,
# for any index type: loading is instant and the pages sit in the page cache, shared by every
# process serving the generation. Older FAISS without that flag can map only IVF lists.
_MMAP_FLAG: int = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)


def save_vectors(
    directory: Path, vectors: NDArray[np.float32], factory: str, progress: bool = False
) -> str:
    """Write vectors.npy and a FAISS index of them, keyed by passage rowid (row + 1).

    Returns:
        The factory string built ("auto" resolved).
    Raises:
        BuildError: the factory string is not a FAISS index FAISS can build here.
    """
    np.save(directory / VECTORS_FILE, vectors, allow_pickle=False)
    resolved = resolve_factory(factory, len(vectors))
    index = build_faiss_index(vectors, resolved, progress)
    # Through a Python file, so a full disk raises OSError: faiss.write_index raises a
    # RuntimeError when a write fails, and only prints a failed close, leaving a short file.
    with open(directory / FAISS_FILE, "wb") as file:
        faiss.write_index(index, faiss.PyCallbackIOWriter(file.write))  # type: ignore[attr-defined]
    return resolved


def build_faiss_index(vectors: NDArray[np.float32], factory: str, progress: bool = False) -> Any:
    """A FAISS index of ``vectors`` with ids row + 1, search parameters set.

    Args:
        factory: a FAISS factory string, "auto" already resolved (``resolve_factory``).

    Raises:
        BuildError: the factory string is not a FAISS index FAISS can build here.
    """
    count, dimension = vectors.shape
    try:
        inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise BuildError(f"FAISS cannot build index type {factory!r}: {_short_message(e)}") from e
    # Ids are contiguous, so the plain id map does: IndexIDMap2's reverse hash map would cost
    # memory and load time for lookups nothing makes.
    index = faiss.IndexIDMap(inner)
    if not index.is_trained:
        if count == 0:
            raise BuildError(f"index type {factory!r} needs training vectors; there are none")
        try:
            index.train(vectors)
        except RuntimeError as e:
            message = _short_message(e)
            raise BuildError(f"cannot train {factory!r} on {count} vectors: {message}") from e
    if count > _ADD_CHUNK:
        logger.info("building a %s index of %d vectors", factory, count)
    with tqdm(total=count, desc="Indexing vectors", unit="vector", file=sys.stderr,
              disable=not progress or count <= _ADD_CHUNK) as bar:
        for start in range(0, count, _ADD_CHUNK):
            part = np.ascontiguousarray(vectors[start : start + _ADD_CHUNK])
            ids = np.arange(start + 1, start + len(part) + 1, dtype=np.int64)
            index.add_with_ids(part, ids)
            bar.update(len(part))
    set_search_parameters(index)
    return index


def set_search_parameters(index: Any) -> dict[str, int]:
    """Raise efSearch / nprobe of the ANN parts of ``index`` to sensible values.

    Values already higher are kept. Returns what the index now uses, for logging.
    """
    used: dict[str, int] = {}
    for part in _components(index):
        if isinstance(part, faiss.IndexHNSW):
            part.hnsw.efSearch = max(part.hnsw.efSearch, HNSW_EF_SEARCH)
            used["efSearch"] = int(part.hnsw.efSearch)
        elif isinstance(part, faiss.IndexIVF):
            wanted = max(IVF_MIN_NPROBE, part.nlist // IVF_PROBE_FRACTION)
            part.nprobe = min(part.nlist, max(part.nprobe, wanted))
            used["nprobe"] = int(part.nprobe)
    return used


def _components(index: Any) -> list[Any]:
    """``index`` and the indexes it wraps, as their concrete FAISS classes."""
    found = []
    pending = [index]
    while pending:
        part = faiss.downcast_index(pending.pop())
        found.append(part)
        if isinstance(part, (faiss.IndexIDMap, faiss.IndexPreTransform)):
            pending.append(part.index)
        elif isinstance(part, faiss.IndexRefine):
            pending.append(part.base_index)
        elif isinstance(part, faiss.IndexIVF):
            pending.append(part.quantizer)  # may itself be an HNSW (IVF65536_HNSW32,...)
    return found


def load_vectors(directory: Path) -> NDArray[np.float32]:
    """The raw vectors, memory-mapped read-only."""
    vectors: NDArray[np.float32] = np.load(directory / VECTORS_FILE, mmap_mode="r")
    return vectors


def load_faiss_index(directory: Path, mmap: bool = True) -> Any:
    """The FAISS index, set up for searching one query at a time.

    Args:
        mmap: map the file instead of reading it (generations are never modified in place).
    """
    # One query is a few milliseconds of work: OpenMP threads cost more to wake than they
    # save, and their spin-waiting starves request threads (docs/benchmarks.md section 5).
    faiss.omp_set_num_threads(1)
    path = directory / FAISS_FILE
    if mmap:
        _read_ahead(path)
    index = faiss.read_index(str(path), _MMAP_FLAG if mmap else 0)
    # Indexes written before search parameters were recorded get them here.
    used = set_search_parameters(index)
    logger.debug("loaded %s (%d vectors) %s", path, index.ntotal, used or "exact")
    return index


def _read_ahead(path: Path) -> None:
    """Ask the kernel to start reading a mapped file in the background: the first queries
    would otherwise each wait for disk reads of the pages they touch."""
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # read_index reports the missing file
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def _short_message(error: RuntimeError) -> str:
    # FAISS prefixes its messages with the C++ function and source line.
    match = re.search(r" at \S+:\d+: (.*)", str(error))
    return match.group(1) if match else str(error)


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
