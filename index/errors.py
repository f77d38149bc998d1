"""The errors the index library raises; callers catch SearchError for all of them.

SearchError
├── ConfigError           a setting is unknown, of the wrong type or out of range
├── ModelError            the embedding model cannot be loaded or fails its checksum
├── BuildError            a rebuild cannot complete (the live index is left as it was)
├── IndexNotBuiltError    no published generation in the index folder
├── IndexMismatchError    a generation was built with another model, or is corrupt
├── VectorStoreUnavailableError  the vector server (Milvus) does not answer
├── DocumentNotFoundError no document with that id
│   └── PassageNotFoundError  no passage with that id
├── InvalidQueryError     a query or its parameters are out of range
└── QueryTimeoutError     a query's full-text search ran past its time limit
"""

from __future__ import annotations


class SearchError(Exception):
    """Base of every error raised on purpose by the index library."""


class ConfigError(SearchError):
    pass


class ModelError(SearchError):
    pass


class BuildError(SearchError):
    pass


class IndexNotBuiltError(SearchError):
    pass


class IndexMismatchError(SearchError):
    pass


class VectorStoreUnavailableError(SearchError):
    """Passing: the same request may succeed once the server is back."""


class DocumentNotFoundError(SearchError):
    pass


class PassageNotFoundError(DocumentNotFoundError):
    """Also a 404 wherever a missing document is one."""


class InvalidQueryError(SearchError):
    pass


class QueryTimeoutError(SearchError):
    """Passing, under load: the same query may be answered when the machine is less busy."""
