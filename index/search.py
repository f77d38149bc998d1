"""The searcher: one published generation opened for queries, the per-query hot path.

One ``Searcher.search`` serves the JSON API, the web page and the evaluation script.
Candidate lists are always ``CANDIDATES`` deep, whatever ``k`` and ``offset`` are, so a
query's ranking never depends on the page asked for: pages are stable.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from index.build import STORE_FILE
from index.documents import Document
from index.embedding import Embedder
from index.errors import DocumentNotFoundError, IndexMismatchError, InvalidQueryError
from index.fusion import reciprocal_rank_fusion
from index.generations import read_manifest
from index.store import PassageStore, StoredPassage
from index.vectors import load_faiss_index, load_vectors

logger = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "lexical")
DEFAULT_MODE = "hybrid"
MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_OFFSET = 1000
# Every ranked list is cut at this depth: the deepest page a request may ask for.
CANDIDATES = MAX_OFFSET + MAX_K
_TERM = re.compile(r"\w+")


@dataclass(frozen=True)
class Hit:
    """A passage with its score and rank, and the document it comes from."""

    rank: int  # 1-based, counted from the first result of the whole ranking
    score: float
    passage: StoredPassage
    document_title: str
    document_source: str
    # With grouping by document: how many other candidate passages of the document matched.
    other_matches: int | None = None


@dataclass(frozen=True)
class SearchResults:
    query: str
    mode: str
    k: int
    offset: int
    hits: list[Hit]
    took_ms: float


class Searcher:
    """Searches one generation; immutable, shared by all request threads."""

    def __init__(
        self, folder: Path, manifest: dict[str, Any], embedder: Embedder, faiss_index: Any,
        vectors: NDArray[np.float32],
    ) -> None:
        self.folder = folder
        self.generation = folder.name
        self.manifest = manifest
        self._embedder = embedder
        self._faiss = faiss_index
        self._vectors = vectors
        self._local = threading.local()  # one SQLite connection per thread

    @classmethod
    def open(cls, folder: Path, embedder: Embedder, verify: bool = True) -> Searcher:
        """Open a generation for search after checking it against its manifest and the model.

        Raises:
            IndexMismatchError: files damaged, or vectors from another model.
        """
        manifest = read_manifest(folder, verify=verify)
        recorded = manifest["model"]
        if not embedder.info.same_vectors(recorded) or recorded["dimension"] != embedder.dimension:
            raise IndexMismatchError(
                f"generation {folder.name} was built with model {recorded['name']!r}, "
                f"not the configured {embedder.info.name!r}: rebuild the index or change the model"
            )
        faiss_index = load_faiss_index(folder)
        vectors = load_vectors(folder)
        if faiss_index.ntotal != len(vectors) or faiss_index.d != embedder.dimension:
            raise IndexMismatchError(f"generation {folder.name}: vector files do not agree")
        return cls(folder, manifest, embedder, faiss_index, vectors)

    @property
    def passage_count(self) -> int:
        return int(self._faiss.ntotal)

    @property
    def document_count(self) -> int:
        return int(self.manifest["counts"]["documents"])

    def search(
        self,
        query: str,
        k: int = 10,
        offset: int = 0,
        mode: str = DEFAULT_MODE,
        document_ids: Sequence[str] = (),
        group_by_document: bool = False,
    ) -> SearchResults:
        """The hits ranked ``offset + 1`` to ``offset + k`` for ``query``.

        Args:
            document_ids: if given, only passages of these documents are ranked, exactly.
            group_by_document: rank documents by their best passage, one hit per document.
        Raises:
            InvalidQueryError: empty or too long query, k or offset out of range, unknown mode.
        """
        started = time.perf_counter()
        query = query.strip()
        _validate(query, k, offset, mode)
        store = self._store()
        allowed = store.rowids_of(document_ids) if document_ids else None
        if mode == "lexical":
            ranked = store.lexical_search(_fts_query(query), CANDIDATES, allowed)
        else:
            dense = self._dense_search(self._embedder.embed_query(query), allowed)
            if mode == "dense":
                ranked = dense
            else:
                lexical = store.lexical_search(_fts_query(query), CANDIDATES, allowed)
                ranked = reciprocal_rank_fusion([dense, lexical])
        others: dict[int, int] = {}
        if group_by_document:
            ranked, others = _best_per_document(ranked, store.document_ids_of(ranked))
        page = ranked[offset : offset + k]
        passages = store.get_passages([rowid for rowid, _ in page])
        titles = store.document_titles({p.document_id for p in passages})
        hits = [
            Hit(offset + i + 1, score, passage, *titles[passage.document_id],
                others.get(passage.rowid) if group_by_document else None)
            for i, ((_, score), passage) in enumerate(zip(page, passages, strict=True))
        ]
        took_ms = (time.perf_counter() - started) * 1000
        logger.debug("search mode=%s k=%d took %.1f ms", mode, k, took_ms)
        return SearchResults(query, mode, k, offset, hits, took_ms)

    def get_document(self, document_id: str) -> tuple[Document, list[StoredPassage]]:
        """A document and its passages in order.

        Raises:
            DocumentNotFoundError: no document with that id in this generation.
        """
        store = self._store()
        document = store.get_document(document_id)
        if document is None:
            raise DocumentNotFoundError(f"no document with id {document_id!r}")
        return document, store.passages_of(document_id)

    def _dense_search(
        self, query_vector: NDArray[np.float32], allowed: list[int] | None
    ) -> list[tuple[int, float]]:
        """(rowid, cosine) best first; an allowed subset is scored exactly from the vectors."""
        if allowed is not None:
            rows = np.asarray(allowed, dtype=np.int64) - 1
            scores = self._vectors[rows] @ query_vector
            order = np.lexsort((rows, -scores))[:CANDIDATES]
            return [(int(rows[i]) + 1, float(scores[i])) for i in order]
        depth = min(CANDIDATES, self.passage_count)
        scores, ids = self._faiss.search(query_vector.reshape(1, -1), depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _store(self) -> PassageStore:
        store: PassageStore | None = getattr(self._local, "store", None)
        if store is None:
            store = PassageStore.open(self.folder / STORE_FILE)
            self._local.store = store
        return store


def _best_per_document(
    ranked: list[tuple[int, float]], document_of: dict[int, str]
) -> tuple[list[tuple[int, float]], dict[int, int]]:
    """Keep each document's best passage; count the document's other passages per kept one."""
    best: dict[str, int] = {}
    kept: list[tuple[int, float]] = []
    others: dict[int, int] = {}
    for rowid, score in ranked:
        document_id = document_of[rowid]
        if document_id in best:
            others[best[document_id]] += 1
            continue
        best[document_id] = rowid
        others[rowid] = 0
        kept.append((rowid, score))
    return kept, others


def _validate(query: str, k: int, offset: int, mode: str) -> None:
    if not query:
        raise InvalidQueryError("q must not be empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"q must be at most {MAX_QUERY_CHARS} characters")
    if not 1 <= k <= MAX_K:
        raise InvalidQueryError(f"k must be between 1 and {MAX_K}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidQueryError(f"offset must be between 0 and {MAX_OFFSET}")
    if mode not in MODES:
        raise InvalidQueryError(f"mode must be one of {', '.join(MODES)}")


def _fts_query(query: str) -> str:
    """Any of the query's words, each quoted so that FTS5 syntax in a query is just text."""
    return " OR ".join(f'"{term}"' for term in _TERM.findall(query.lower()))
