"""Shared fixtures: the real default model, loaded once, and the sample corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import DEFAULT_MODEL, Config, Embedder, find_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.load(find_model(DEFAULT_MODEL))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A private copy of the sample corpus that a test may change."""
    target = tmp_path / "docs"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def config(tmp_path: Path, docs: Path) -> Config:
    return Config(docs_dir=docs, index_dir=tmp_path / "index")
