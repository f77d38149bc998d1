"""The vector index: passage vectors in FAISS, searched by inner product (= cosine here).

A generation keeps the raw vectors in vectors.npy (row i is passage rowid i + 1) beside the
FAISS index built from them: rebuilds reuse vectors exactly, whatever lossy index type is
configured, and filtered queries can score a subset exactly.

The index type is a FAISS factory string, or "auto": exact search (``Flat``) for small
collections, an HNSW graph over 16-bit float vectors above ``ANN_THRESHOLD`` passages. The
numbers behind the choice come from benchmarks/scale.py.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from index.errors import BuildError

logger = logging.getLogger(__name__)

VECTORS_FILE = "vectors.npy"
FAISS_FILE = "vectors.faiss"

AUTO = "auto"
# Below this many passages "auto" searches exactly. One core scans ~4-8k passages per ms
# (20k: ~3-7 ms, 50k: ~13 ms, 100k: ~15-24 ms, 1M: ~150 ms on this 2-core machine), so below
# 20k the exact scan costs less than encoding the query, while HNSW answers in 1-2 ms at
# every size measured; building HNSW costs ~10 s per 25k passages on 2 cores (~4-5 min at
# 1M), paid on every rebuild. Small collections (SciFact's 14.6k passages) stay exact.
# Measured with benchmarks/scale.py (results in docs/benchmarks.md).
ANN_THRESHOLD = 20_000
# HNSW with 32 links per node (16 lose ~2 points of recall@10 at 100k) over vectors stored as
# 16-bit floats: half of Flat's memory (~1.1 GB at 1M passages with the graph). 8-bit
# storage (SQ8) would save another 0.4 GB, but at 1M its rounding alone costs 2.2 points of
# recall@10 (exhaustive SQ8: 0.978, fp16: 0.998), too close to the 0.95 wanted.
ANN_FACTORY = "HNSW32,SQfp16"
# Search breadth written into the index file, so every loader searches the same way; FAISS's
# default of 16 loses most of the recall. The Searcher asks for 1,100 hits, and HNSW returns
# only nodes it visits: at 1M, efSearch 128 gives recall@10 0.90 and as few as 317 hits,
# 256 gives 0.97 and >= 600 hits, 512 gives 0.98 and always 1,100, in 2.6 ms (p99 5.3 ms).
HNSW_EF_SEARCH = 512
# An IVF index scans nprobe of its nlist clusters: 1/32 of them, but at least 16.
IVF_MIN_NPROBE = 16
IVF_PROBE_FRACTION = 32
# Vectors added per step when building, so long builds can show progress.
_ADD_CHUNK = 50_000
# FAISS 1.15 (installed) maps the index file's arrays into memory instead of copying them,
# for any index type: loading is instant and the pages sit in the page cache, shared by every
# process serving the generation. Older FAISS without that flag can map only IVF lists.
_MMAP_FLAG: int = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)


def resolve_factory(factory: str, count: int, threshold: int | None = None) -> str:
    """The FAISS factory string to build for ``count`` vectors: ``factory`` unless "auto"."""
    if factory != AUTO:
        return factory
    limit = ANN_THRESHOLD if threshold is None else threshold
    return ANN_FACTORY if count >= limit else "Flat"


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
    # memory and load time (~50 MB, a second at 1M vectors) for lookups nothing makes.
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
    # save, and their spin-waiting starves request threads (5 ms becomes 25-400 ms here).
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
