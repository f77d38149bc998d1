"""The FAISS index: "auto" picks exact or ANN by size, ANN recall, memory-mapped loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from numpy.typing import NDArray

from index import BuildError, Config, Embedder, IndexFolder, build_index
from index.vectors import auto
from index.vectors.auto import ANN_FACTORY, HNSW_EF_SEARCH, resolve_factory
from index.vectors.faiss import FAISS_FILE, load_faiss_index, save_vectors

Vectors = NDArray[np.float32]


@pytest.fixture(scope="module")
def real_vectors(sample_index: Config) -> Vectors:
    """Passage vectors of the sample corpus, embedded by the real model."""
    generation = IndexFolder(sample_index.index_dir).current()
    return np.load(generation / "vectors.npy")


def structured(real: Vectors, count: int, sigma: float, seed: int) -> Vectors:
    """Unit vectors shaped like real embeddings: mixtures of a real vector and one of its
    near neighbours plus noise with the real vectors' covariance (not uniform random)."""
    rng = np.random.default_rng(seed)
    neighbours = np.argsort(-(real @ real.T), axis=1)[:, 1:6]
    shape = np.linalg.cholesky(np.cov(real.T.astype(np.float64)) + 1e-6 * np.eye(real.shape[1]))
    first = rng.integers(0, len(real), count)
    second = neighbours[first, rng.integers(0, neighbours.shape[1], count)]
    weight = rng.uniform(0.5, 1.0, (count, 1))
    noise = rng.standard_normal((count, real.shape[1])) @ shape.T
    mixed = weight * real[first] + (1 - weight) * real[second] + sigma * noise
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def passages(real_vectors: Vectors) -> Vectors:
    return structured(real_vectors, 4000, sigma=0.35, seed=0)


@pytest.fixture(scope="module")
def queries(real_vectors: Vectors) -> Vectors:
    # Held out, and noisier than the passages: queries sit between passages, not on them.
    return structured(real_vectors, 100, sigma=0.7, seed=1)


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(auto, "ANN_THRESHOLD", 1000)
    return 1000


def inner_index(directory: Path) -> Any:
    """The index inside the id map, as written (no search parameters applied on load)."""
    index = faiss.read_index(str(directory / FAISS_FILE))
    return faiss.downcast_index(faiss.downcast_index(index).index)


def test_resolve_factory_only_changes_auto() -> None:
    assert resolve_factory("auto", 10, threshold=100) == "Flat"
    assert resolve_factory("auto", 99, threshold=100) == "Flat"
    assert resolve_factory("auto", 100, threshold=100) == ANN_FACTORY
    assert resolve_factory("IVF64,PQ16", 10, threshold=100) == "IVF64,PQ16"
    assert resolve_factory("Flat", 10**7) == "Flat"


def test_auto_is_exact_below_the_threshold_and_hnsw_above(
    tmp_path: Path, passages: Vectors, low_threshold: int
) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()

    assert save_vectors(small, passages[: low_threshold - 1], "auto") == "Flat"
    assert save_vectors(large, passages[:low_threshold], "auto") == ANN_FACTORY

    assert isinstance(inner_index(small), faiss.IndexFlat)
    hnsw = inner_index(large)
    assert isinstance(hnsw, faiss.IndexHNSWSQ)
    # The search breadth is recorded in the file, not FAISS's default of 16.
    assert hnsw.hnsw.efSearch == HNSW_EF_SEARCH


def test_auto_with_no_passages_is_flat(tmp_path: Path) -> None:
    assert save_vectors(tmp_path, np.empty((0, 384), np.float32), "auto") == "Flat"
    assert load_faiss_index(tmp_path).ntotal == 0


def test_ann_recall_at_10_against_exact_search(
    tmp_path: Path, passages: Vectors, queries: Vectors, low_threshold: int
) -> None:
    save_vectors(tmp_path, passages, "auto")
    index = load_faiss_index(tmp_path)
    assert isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW)

    _, found = index.search(queries, 100)
    exact = np.argsort(-(queries @ passages.T), axis=1)[:, :10] + 1  # ids are rowids
    recall = np.mean([len(set(f[:10]) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.95
    # Deeper lists (the Searcher asks for 1,100) are filled, best first.
    scores, deep = index.search(queries[:3], 1100)
    assert (deep > 0).all() and (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("factory", ["Flat", ANN_FACTORY, "IVF16,SQ8"])
def test_memory_mapped_loading_gives_identical_results(
    tmp_path: Path, passages: Vectors, queries: Vectors, factory: str
) -> None:
    save_vectors(tmp_path, passages, factory)

    mapped = load_faiss_index(tmp_path, mmap=True)
    read = load_faiss_index(tmp_path, mmap=False)

    assert _maps(tmp_path / FAISS_FILE)  # really mapped, not copied
    mapped_scores, mapped_ids = mapped.search(queries, 50)
    read_scores, read_ids = read.search(queries, 50)
    np.testing.assert_array_equal(mapped_ids, read_ids)
    np.testing.assert_array_equal(mapped_scores, read_scores)
    del mapped, read


def _maps(path: Path) -> bool:
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(str(path)) for line in f)


def test_user_factories_get_sensible_search_parameters(tmp_path: Path, passages: Vectors) -> None:
    save_vectors(tmp_path, passages, "IVF64,SQ8")
    assert faiss.extract_index_ivf(faiss.read_index(str(tmp_path / FAISS_FILE))).nprobe == 16


def test_loading_raises_search_breadth_of_older_files(tmp_path: Path, passages: Vectors) -> None:
    # An index written without search parameters, as FAISS leaves them.
    inner = faiss.index_factory(passages.shape[1], "HNSW16", faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIDMap(inner)
    index.add_with_ids(passages[:500], np.arange(1, 501))
    faiss.write_index(index, str(tmp_path / FAISS_FILE))
    assert inner_index(tmp_path).hnsw.efSearch == 16

    loaded = load_faiss_index(tmp_path)

    assert faiss.downcast_index(loaded.index).hnsw.efSearch == HNSW_EF_SEARCH


def test_an_unknown_factory_is_a_build_error(tmp_path: Path, passages: Vectors) -> None:
    with pytest.raises(BuildError, match="cannot build index type 'HNSWx'"):
        save_vectors(tmp_path, passages[:10], "HNSWx")


def test_auto_does_not_force_a_rebuild(config: Config, embedder: Embedder) -> None:
    config = dataclasses.replace(config, faiss_factory="auto")
    first = build_index(config, embedder=embedder)
    assert first.generation is not None

    again = build_index(config, embedder=embedder)

    assert again.generation is None  # up to date: "auto" recorded, "auto" configured
    assert IndexFolder(config.index_dir).current().name == first.generation
