"""Shared fixtures: the real default model, loaded once, and the sample corpus."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from index import DEFAULT_MODEL, Config, Embedder, find_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


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
