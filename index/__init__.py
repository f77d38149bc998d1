"""Semantic search library: documents, passages, embeddings, stores and search."""

from index.build import BuildReport, build_index
from index.config import DEFAULT_MODEL, Config, load_config
from index.documents import Document, SkippedFile
from index.embedding import Embedder, find_model, load_embedder
from index.errors import (
    BuildError,
    ConfigError,
    DocumentNotFoundError,
    IndexMismatchError,
    IndexNotBuiltError,
    InvalidQueryError,
    ModelError,
    QueryTimeoutError,
    SearchError,
    VectorStoreUnavailableError,
)
from index.formats import SUPPORTED_SUFFIXES
from index.generations import IndexFolder

__all__ = [
    "DEFAULT_MODEL",
    "SUPPORTED_SUFFIXES",
    "BuildError",
    "BuildReport",
    "Config",
    "ConfigError",
    "Document",
    "DocumentNotFoundError",
    "Embedder",
    "IndexFolder",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "InvalidQueryError",
    "ModelError",
    "QueryTimeoutError",
    "SearchError",
    "SkippedFile",
    "VectorStoreUnavailableError",
    "build_index",
    "find_model",
    "load_embedder",
    "load_config",
]
