"""The model on OpenVINO and ONNX Runtime: torch's query and passage vectors, int8 passage
vectors close to torch's, torch's token counts, an export made once and reused without torch,
a clean fallback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import Config, Embedder
from index.generations import IndexFolder, read_manifest
from index.runtimes import export_folder
from index.store import PassageStore

ROOT = Path(__file__).resolve().parent.parent
# OpenVINO runs passages in bf16 where the CPU computes bf16 natively, else in float.
NATIVE_BF16 = any(flag in Path("/proc/cpuinfo").read_text() for flag in ("avx512_bf16", "amx_bf16"))
OPENVINO = "openvino-bf16" if NATIVE_BF16 else "openvino-f32"


@pytest.fixture(scope="module")
def torch_embedder(embedder: Embedder) -> Embedder:
    return Embedder.load(embedder.info, "torch", "torch")


@pytest.fixture(scope="module")
def int8_embedder(embedder: Embedder, model_cache: Path) -> Embedder:
    return Embedder.load(embedder.info, "onnx-int8", "onnx", model_cache)


@pytest.fixture(scope="module")
def float_embedder(embedder: Embedder, model_cache: Path) -> Embedder:
    return Embedder.load(embedder.info, "onnx", "onnx", model_cache)


def sample_passages(config: Config) -> list[str]:
    generation = IndexFolder(config.index_dir).current()
    store = PassageStore.open(generation / "passages.sqlite")
    count = int(read_manifest(generation)["counts"]["passages"])
    return [p.text for p in store.get_passages(list(range(1, count + 1)))]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_the_defaults_are_openvino_passages_and_float_onnx_queries(embedder: Embedder) -> None:
    assert (embedder.passage_backend, embedder.query_backend) == (OPENVINO, "onnx")
    assert embedder.fingerprint()["passage_backend"] == OPENVINO
    assert (embedder.dimension, embedder.max_tokens) == (384, 256)


def test_onnx_query_vectors_match_torch_on_the_sample_passages(
    embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    texts = sample_passages(sample_index)
    assert len(texts) > 100
    queries = np.stack([embedder.embed_query(t) for t in texts])
    expected = np.stack([torch_embedder.embed_query(t) for t in texts])
    assert cosines(queries, expected).min() >= 0.999
    assert np.linalg.norm(queries, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_float_onnx_passages_match_torch(
    float_embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    texts = sample_passages(sample_index)
    passages = float_embedder.embed_passages(texts, batch_size=32)
    assert cosines(passages, torch_embedder.embed_passages(texts)).min() >= 0.999


def test_openvino_passages_match_torch(
    embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    texts = sample_passages(sample_index)
    passages = embedder.embed_passages(texts)
    assert cosines(passages, torch_embedder.embed_passages(texts)).min() >= 0.999
    # Batches do not change a passage's vector beyond rounding.
    alone = np.stack([embedder.embed_passages([t])[0] for t in texts[:20]])
    assert cosines(alone, passages[:20]).min() >= 0.9999


def test_int8_vectors_stay_close_to_torchs_and_rank_alike(
    embedder: Embedder, int8_embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    texts = sample_passages(sample_index)
    int8 = int8_embedder.embed_passages(texts, batch_size=32)
    exact = torch_embedder.embed_passages(texts)
    similarity = cosines(int8, exact)
    assert similarity.min() >= 0.97
    assert similarity.mean() >= 0.99
    # Each passage, asked as a query, still finds itself first among all passages.
    queries = np.stack([embedder.embed_query(t) for t in texts])
    assert np.mean((queries @ int8.T).argmax(axis=1) == np.arange(len(texts))) >= 0.98


def test_int8_queries_are_an_option(
    embedder: Embedder, torch_embedder: Embedder, model_cache: Path, sample_index: Config
) -> None:
    int8 = Embedder.load(embedder.info, "onnx-int8", "onnx-int8", model_cache)
    assert int8.query_backend == "onnx-int8"
    texts = sample_passages(sample_index)[:40]
    queries = np.stack([int8.embed_query(t) for t in texts])
    assert cosines(queries, np.stack([torch_embedder.embed_query(t) for t in texts])).min() > 0.97


def test_onnx_token_counts_equal_the_models_tokenizer(
    embedder: Embedder, torch_embedder: Embedder, sample_index: Config
) -> None:
    texts = sample_passages(sample_index) + [
        "", "naïve café — “quoted” ½", "北京是中国的首都。", "emoji 🙂🚀 and\ttabs\nnewlines",
        "word " * 600,
    ]
    assert [embedder.count_tokens(t) for t in texts] == [
        torch_embedder.count_tokens(t) for t in texts
    ]
    assert embedder.count_tokens("word " * 600) == 602  # never truncated


def test_the_export_is_reused_without_importing_torch(
    embedder: Embedder, model_cache: Path
) -> None:
    (folder,) = (model_cache / "onnx").iterdir()
    before = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    script = (
        "import sys; from pathlib import Path; from index import Embedder, find_model\n"
        f"cache = Path({str(model_cache)!r})\n"
        "e = Embedder.load(find_model('all-MiniLM-L6-v2'), cache_dir=cache)\n"
        "v = e.embed_query('cached?')\n"
        "e.embed_passages(['a passage'])\n"
        "print(e.passage_backend, e.query_backend, 'torch' in sys.modules,\n"
        "      ' '.join(map(str, v[:4].tolist())))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[:3] == [OPENVINO, "onnx", "False"]
    np.testing.assert_allclose([float(x) for x in out[3:]], embedder.embed_query("cached?")[:4],
                               rtol=1e-5)
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == before


def test_loading_openvino_sends_no_telemetry_and_forks_nothing(
    embedder: Embedder, model_cache: Path, tmp_path: Path
) -> None:
    """Imported as it ships, openvino forks a child to send Intel a usage event and keeps ids
    under ~/intel; that child held the build lock of a watcher for a minute."""
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import os; from pathlib import Path; from index import Embedder, find_model\n"
        "forks = []\n"
        "os.register_at_fork(before=lambda: forks.append(1))\n"
        f"e = Embedder.load(find_model('all-MiniLM-L6-v2'), cache_dir=Path({str(model_cache)!r}))\n"
        "e.embed_passages(['a passage'])\n"
        "print(e.passage_backend, len(forks))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"},
    ).stdout.split()
    assert out == [OPENVINO, "0"]
    assert list(home.iterdir()) == []


def test_the_export_records_its_agreement_with_torch(embedder: Embedder, model_cache: Path) -> None:
    key = f"{embedder.info.weights_sha256} {embedder.info.config_sha256}"
    meta = json.loads((export_folder(model_cache, key) / "export.json").read_text())
    assert meta["agreement"]["onnx"] >= 0.999
    assert meta["agreement"]["onnx-int8"] >= 0.98
    assert meta["agreement"]["openvino"] >= 0.999
    assert meta["dimension"] == 384


def test_a_damaged_export_is_made_again(embedder: Embedder, tmp_path: Path) -> None:
    Embedder.load(embedder.info, cache_dir=tmp_path)
    (folder,) = (tmp_path / "onnx").iterdir()
    (folder / "model.onnx").write_bytes(b"not an onnx model")
    again = Embedder.load(embedder.info, cache_dir=tmp_path)
    assert again.passage_backend == OPENVINO
    assert (folder / "model.onnx").stat().st_size > 1_000_000
    np.testing.assert_allclose(again.embed_passages(["damaged"]), embedder.embed_passages(
        ["damaged"]), atol=1e-6)


def test_export_failure_falls_back_to_torch(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        fallback = Embedder.load(embedder.info, cache_dir=blocked)
    assert (fallback.passage_backend, fallback.query_backend) == ("torch", "torch")
    assert "using torch" in caplog.text
    assert float(fallback.embed_query("diabetes") @ embedder.embed_query("diabetes")) > 0.98


def test_query_cache_returns_the_same_read_only_vector(embedder: Embedder) -> None:
    first = embedder.embed_query("a query asked twice")
    assert embedder.embed_query("a query asked twice") is first
    assert not first.flags.writeable
