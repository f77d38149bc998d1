"""The vector index: passage vectors in FAISS, searched by inner product (= cosine here).

A generation keeps the raw vectors in vectors.npy (row i is passage rowid i + 1) beside the
FAISS index built from them: rebuilds reuse vectors exactly, whatever lossy index type is
configured, and filtered queries can score a subset exactly.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from index.errors import BuildError

logger = logging.getLogger(__name__)

VECTORS_FILE = "vectors.npy"
FAISS_FILE = "vectors.faiss"


def save_vectors(directory: Path, vectors: NDArray[np.float32], factory: str) -> None:
    """Write vectors.npy and a FAISS index of them, keyed by passage rowid (row + 1).

    Raises:
        BuildError: the factory string is not a FAISS index FAISS can build here.
    """
    np.save(directory / VECTORS_FILE, vectors, allow_pickle=False)
    faiss.write_index(build_faiss_index(vectors, factory), str(directory / FAISS_FILE))


def build_faiss_index(vectors: NDArray[np.float32], factory: str) -> Any:
    count, dimension = vectors.shape
    try:
        inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise BuildError(f"FAISS cannot build index type {factory!r}: {_short_message(e)}") from e
    index = faiss.IndexIDMap2(inner)
    if not index.is_trained:
        if count == 0:
            raise BuildError(f"index type {factory!r} needs training vectors; there are none")
        try:
            index.train(vectors)
        except RuntimeError as e:
            message = _short_message(e)
            raise BuildError(f"cannot train {factory!r} on {count} vectors: {message}") from e
    ids = np.arange(1, count + 1, dtype=np.int64)
    index.add_with_ids(vectors, ids)
    return index


def load_vectors(directory: Path) -> NDArray[np.float32]:
    """The raw vectors, memory-mapped read-only."""
    vectors: NDArray[np.float32] = np.load(directory / VECTORS_FILE, mmap_mode="r")
    return vectors


def load_faiss_index(directory: Path) -> Any:
    """The FAISS index, set up for searching one query at a time."""
    # One query is a few milliseconds of work: OpenMP threads cost more to wake than they
    # save, and their spin-waiting starves request threads (5 ms becomes 25-400 ms here).
    faiss.omp_set_num_threads(1)
    return faiss.read_index(str(directory / FAISS_FILE))


def _short_message(error: RuntimeError) -> str:
    # FAISS prefixes its messages with the C++ function and source line.
    match = re.search(r" at \S+:\d+: (.*)", str(error))
    return match.group(1) if match else str(error)
