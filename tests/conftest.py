"""Shared fixtures: the real default model, loaded once, and the sample corpus."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from index import DEFAULT_MODEL, Config, Embedder, build_index, find_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"

# The Milvus and Ray tests leave gRPC clients running in this process; gRPC's fork handlers
# then crash some of the services and scripts later tests start (grpc/grpc#43055; the store
# and Ray embedding turn them off the same way, tests/test_milvus.py).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the session, so the model is exported to ONNX once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Embedder:
    """The default model on the default backends, as the service and the rebuild run it."""
    return Embedder.load(find_model(DEFAULT_MODEL), cache_dir=model_cache)


@pytest.fixture
def exported_env(model_cache: Path, embedder: Embedder) -> dict[str, str]:
    """An environment for scripts run by tests: the session's ONNX export, no hub."""
    return {**os.environ, "SEARCH_CACHE_DIR": str(model_cache), "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A private copy of the sample corpus that a test may change."""
    target = tmp_path / "docs"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def config(tmp_path: Path, docs: Path, model_cache: Path) -> Config:
    return Config(docs_dir=docs, index_dir=tmp_path / "index", cache_dir=model_cache)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Config:
    """The sample corpus indexed once per session; tests must not change it."""
    from index import build_index

    root = tmp_path_factory.mktemp("sample")
    config = Config(docs_dir=CORPUS, index_dir=root / "index")
    build_index(config, embedder=embedder)
    return config


@pytest.fixture
def app(sample_index: Config, embedder: Embedder) -> Flask:
    from service import create_app

    app = create_app(sample_index, embedder=embedder, watch=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


MARCH = 1_709_251_200  # 2024-03-01T00:00:00Z
DAY = 86_400

# Each file: its text, and how many days after March 1st 2024 it was last modified.
FILES = {
    "notes/tides.md": ("# Tides\n\nHigh water at the harbour comes twice a day; the neap "
                       "tide is the smallest.", -10),
    "notes/2024/anchoring.txt": ("Anchoring\n\nDrop the anchor in sand, never on weed; let "
                                 "out five times the depth of chain.", 5),
    "notes/2024/knots.md": ("# Knots\n\nThe bowline makes a fixed loop that will not slip "
                            "when the rope is loaded.", 20),
    "papers/harbour.html": ("<html><head><title>Harbour report</title></head><body><h1>"
                            "Harbour report</h1><p>The harbour wall was rebuilt after the "
                            "winter storms; mooring fees rose.</p></body></html>", 40),
    "notebook.txt": ("Notebook\n\nA grey heron waits in the reeds by the harbour at low "
                     "tide.", 60),
}


@pytest.fixture(scope="session")
def folder_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Config:
    """A folder of notes in subfolders, several formats, known modification times and the
    sample articles in articles/, indexed once per session."""
    root = tmp_path_factory.mktemp("filters")
    docs = root / "docs"
    for name, (text, days) in FILES.items():
        path = docs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (MARCH + days * DAY, MARCH + days * DAY))
    shutil.copytree(CORPUS, docs / "articles")  # five more .txt, modified now
    config = Config(docs_dir=docs, index_dir=root / "index")
    build_index(config, embedder=embedder)
    return config
