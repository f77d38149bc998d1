"""Query encoding: ONNX Runtime gives torch's vectors, is cached, and falls back cleanly."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index import Config, Embedder
from index.generations import IndexFolder, read_manifest
from index.store import PassageStore


@pytest.fixture(scope="module")
def torch_embedder(embedder: Embedder) -> Embedder:
    return Embedder.load(embedder.info, "torch")


def sample_passages(config: Config) -> list[str]:
    generation = IndexFolder(config.index_dir).current()
    store = PassageStore.open(generation / "passages.sqlite")
    count = int(read_manifest(generation)["counts"]["passages"])
    return [p.text for p in store.get_passages(list(range(1, count + 1)))]


def test_onnx_query_vectors_match_torch_on_the_sample_passages(
    embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    assert embedder.query_backend == "onnx"
    assert torch_embedder.query_backend == "torch"
    texts = sample_passages(sample_index)
    assert len(texts) > 20
    cosines = [float(embedder.embed_query(t) @ torch_embedder.embed_query(t)) for t in texts]
    assert min(cosines) >= 0.999
    vector = embedder.embed_query(texts[0])
    assert vector.shape == (embedder.dimension,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_the_export_is_reused_from_the_cache(embedder: Embedder, model_cache: Path) -> None:
    exported = list((model_cache / "onnx").glob("*.onnx"))
    assert len(exported) == 1
    before = exported[0].stat().st_mtime_ns
    again = Embedder.load(embedder.info, "onnx", model_cache)
    assert again.query_backend == "onnx"
    assert exported[0].stat().st_mtime_ns == before
    np.testing.assert_allclose(again.embed_query("cached?"), embedder.embed_query("cached?"))


def test_a_damaged_export_is_made_again(embedder: Embedder, tmp_path: Path) -> None:
    Embedder.load(embedder.info, "onnx", tmp_path)
    (exported,) = (tmp_path / "onnx").glob("*.onnx")
    exported.write_bytes(b"not an onnx model")
    again = Embedder.load(embedder.info, "onnx", tmp_path)
    assert again.query_backend == "onnx"
    assert exported.stat().st_size > 1_000_000


def test_export_failure_falls_back_to_torch(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        fallback = Embedder.load(embedder.info, "onnx", blocked)
    assert fallback.query_backend == "torch"
    assert "queries use torch" in caplog.text
    assert float(fallback.embed_query("diabetes") @ embedder.embed_query("diabetes")) > 0.999


def test_query_cache_returns_the_same_read_only_vector(embedder: Embedder) -> None:
    first = embedder.embed_query("a query asked twice")
    assert embedder.embed_query("a query asked twice") is first
    assert not first.flags.writeable

