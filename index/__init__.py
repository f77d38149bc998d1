"""Semantic search library: what service/, scripts/ and benchmarks/ use of it, and its errors.

Everything else is internal to ``index`` (tests may still import it).
"""

from index.build import BuildReport, build_index
from index.config import DEFAULT_MODEL, Config, load_config
from index.documents import Document
from index.embedding import Embedder, find_model, load_embedder
from index.errors import (
    BuildError,
    ConfigError,
    DocumentNotFoundError,
    IndexMismatchError,
    IndexNotBuiltError,
    InvalidQueryError,
    ModelError,
    PassageNotFoundError,
    QueryTimeoutError,
    SearchError,
    VectorStoreUnavailableError,
)
from index.evaluation import (
    PUBLISHED,
    Collection,
    answer_rank,
    load_beir,
    load_seed_queries,
    score_run,
    write_beir_documents,
)
from index.formats import SUPPORTED_SUFFIXES
from index.fusion import FUSIONS
from index.generations import IndexFolder
from index.lexical import matched_spans, query_terms
from index.request import (
    DEFAULT_K,
    DEFAULT_MODE,
    MAX_FILTER_VALUES,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    MODES,
    PARTS,
    SearchRequest,
)
from index.search import Facets, Hit, Searcher, SearchResults
from index.store import StoredPassage

__all__ = [
    "DEFAULT_K",
    "DEFAULT_MODE",
    "DEFAULT_MODEL",
    "FUSIONS",
    "MAX_FILTER_VALUES",
    "MAX_K",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "MODES",
    "PARTS",
    "PUBLISHED",
    "SUPPORTED_SUFFIXES",
    "BuildError",
    "BuildReport",
    "Collection",
    "Config",
    "ConfigError",
    "Document",
    "DocumentNotFoundError",
    "PassageNotFoundError",
    "Embedder",
    "Hit",
    "IndexFolder",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "InvalidQueryError",
    "ModelError",
    "QueryTimeoutError",
    "SearchError",
    "SearchRequest",
    "SearchResults",
    "Facets",
    "Searcher",
    "StoredPassage",
    "VectorStoreUnavailableError",
    "answer_rank",
    "build_index",
    "find_model",
    "load_beir",
    "load_config",
    "load_embedder",
    "load_seed_queries",
    "matched_spans",
    "query_terms",
    "score_run",
    "write_beir_documents",
]
