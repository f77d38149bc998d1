"""The searcher: one published generation opened for queries, the per-query hot path.

One ``Searcher.search`` serves the JSON API, the web page and the evaluation script, each
with a ``SearchRequest`` (index.request).
Candidate lists are always ``CANDIDATES`` deep, whatever ``k`` and ``offset`` are, so a
query's ranking never depends on the page asked for: pages are stable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from index.answer_sentences import answer_sentences
from index.config import Config
from index.documents import Document
from index.embedding import Embedder
from index.errors import DocumentNotFoundError, IndexMismatchError, PassageNotFoundError
from index.fusion import FUSIONS, fuse
from index.generations import read_manifest
from index.lexical import lexical_terms, query_terms
from index.query_syntax import phrase_pattern
from index.request import MAX_K, MAX_OFFSET, SearchRequest
from index.store import STORE_FILE, PassageStore, StoredPassage
from index.vectors import VectorIndex, open_vector_index
from index.weak_match import recorded_weak_cosine

logger = logging.getLogger(__name__)

# Every ranked list is cut at this depth: the deepest page a request may ask for.
CANDIDATES = MAX_OFFSET + MAX_K
# Allowed passages up to which a filtered search scores their vectors exactly (all of them
# read); above it the index is searched instead (docs/benchmarks.md, "Filters")...
EXACT_SUBSET = 30_000
# ... and the share of the index a subset must be for the index to be searched instead: at
# 200,000 vectors a 1% subset was not found in full even at full depth, 5% and up were.
INDEX_SHARE = 0.05
# With grouping by document, the other passages of a document a hit carries (the page lists
# them under "N more passages in this document").
MORE_SHOWN = 3
# In hybrid mode a reader comment ranks above an article passage only when it scores more
# than this above it (fused scores run 0 to 1): a topic query then opens with the article.
# On the sample corpus's 70 questions margins up to 0.08 change no hit@1 or hit@5 and larger
# ones lose comment answers (docs/quality.md, "Comments and furniture").
COMMENT_MARGIN = 0.05


@dataclass(frozen=True)
class Hit:
    """A passage with its score and rank, and the document it comes from."""

    rank: int  # 1-based, counted from the first result of the whole ranking
    score: float
    passage: StoredPassage
    document_title: str
    document_source: str
    page_kind: str | None  # what ``passage.pages`` count: "page", "slide"; None if unpaged
    # As the document states them (a web page's publication date YYYY-MM-DD, its byline).
    document_date: str | None = None
    document_author: str | None = None
    # With grouping by document: how many other candidate passages of the document matched.
    other_matches: int | None = None
    explanation: Explanation | None = None
    # (start, end) in ``passage.text`` of the sentences that best answer the query, in order;
    # () when not asked for (index.answer_sentences).
    highlights: tuple[tuple[int, int], ...] = ()
    # With grouping by document: the best MORE_SHOWN of those other passages, best first.
    more: tuple[StoredPassage, ...] = ()

    @property
    def pages_label(self) -> str | None:
        """Where the passage is: "p. 7", "pp. 7–8", "slide 3", "slides 3–4"; None unpaged."""
        if not self.passage.pages:
            return None
        first, last = self.passage.pages
        if self.page_kind == "slide":
            return f"slide {first}" if first == last else f"slides {first}–{last}"
        return f"p. {first}" if first == last else f"pp. {first}–{last}"


@dataclass(frozen=True)
class Explanation:
    """Where a hit stood in each ranking (None: not among that ranking's candidates)."""

    dense_score: float | None
    dense_rank: int | None
    lexical_score: float | None
    lexical_rank: int | None
    fused_score: float  # a comment's with COMMENT_MARGIN taken off


@dataclass(frozen=True)
class Facets:
    """How many documents the ranked candidates come from, by folder and by type, most first."""

    folders: dict[str, int]  # "notes/": 3, its subfolders' documents included
    types: dict[str, int]  # "pdf": 3


@dataclass(frozen=True)
class SearchResults:
    query: str
    mode: str
    k: int
    offset: int
    hits: list[Hit]
    weak: bool  # even the best hit is a poor match
    took_ms: float
    facets: Facets | None = None  # when asked for
    # Seconds spent in each stage that ran: "encode" (the query vector), "dense", "lexical",
    # "fusion"; for GET /metrics (service/metrics.py), which the library knows nothing of.
    stages: dict[str, float] = field(default_factory=dict)


class Searcher:
    """Searches one generation; immutable, shared by all request threads until ``close``."""

    def __init__(
        self, folder: Path, manifest: dict[str, Any], embedder: Embedder, vectors: VectorIndex,
        fusion: str, alpha: float,
    ) -> None:
        if fusion not in FUSIONS or not 0 <= alpha <= 1:
            raise ValueError(f"fusion must be one of {FUSIONS} and alpha in [0, 1]")
        self.fusion = fusion
        self.alpha = alpha  # weight of the dense ranking in hybrid mode, unless a query says
        self.folder = folder
        self.generation = folder.name
        self.manifest = manifest
        self.weak_cosine = recorded_weak_cosine(manifest)
        self._embedder = embedder
        self._vectors = vectors
        self._local = threading.local()  # one SQLite connection per thread
        self._stores: list[PassageStore] = []  # all of them, to close
        self._stores_lock = threading.Lock()
        self._closed = False
        self._part_rowids: dict[str, list[int]] = {}  # part -> its passages' rowids
        self._comment_rowids: frozenset[int] | None = None  # _part_rowids's, for lookups

    @classmethod
    def open(
        cls, folder: Path, embedder: Embedder, fusion: str = Config.fusion,
        alpha: float = Config.alpha, verify: bool = True, vector_store: str | None = None,
    ) -> Searcher:
        """Open a generation for search after checking it against its manifest and the model.

        Args:
            vector_store: how this process reaches a Milvus generation's server, if not by
                the address the build used.
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
        vectors = open_vector_index(folder, manifest, recorded, vector_store)
        if (vectors.count, vectors.dimension) != (manifest["counts"]["passages"],
                                                   embedder.dimension):
            raise IndexMismatchError(
                f"generation {folder.name}: {vectors.count} vectors of dimension "
                f"{vectors.dimension}, its manifest says {manifest['counts']['passages']} of "
                f"{recorded['dimension']}"
            )
        return cls(folder, manifest, embedder, vectors, fusion, alpha)

    @property
    def passage_count(self) -> int:
        return self._vectors.count

    @property
    def document_count(self) -> int:
        return int(self.manifest["counts"]["documents"])

    def search(self, request: SearchRequest) -> SearchResults:
        """The hits ranked ``offset + 1`` to ``offset + k`` for the request's query."""
        started = time.perf_counter()
        query, k, offset, mode = request.query, request.k, request.offset, request.mode
        store = self._store()
        allowed = self._allowed(request, store)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        stages: dict[str, float] = {}  # four clock reads a stage: well under a microsecond
        if mode != "lexical":
            at = time.perf_counter()
            query_vector = self._embedder.embed_query(query)
            encoded = time.perf_counter()
            dense = dense_candidates(self._vectors, query_vector, allowed)
            stages["encode"], stages["dense"] = encoded - at, time.perf_counter() - encoded
        if mode != "dense":
            at = time.perf_counter()
            # "Chinese" also finds "China": the stemmer cannot join a place and its adjective.
            # A part alone is a subquery to SQLite, not its rowids sent along as JSON.
            lexical = store.lexical_search(
                query_terms(query), CANDIDATES, allowed if request.filters_documents else None,
                request.part,
            )
            stages["lexical"] = time.perf_counter() - at
        if mode == "hybrid":
            at = time.perf_counter()
            method, weight = request.fusion or self.fusion, self.alpha
            if request.alpha is not None:  # a weight asked for is used as given
                method = "weighted" if method == "adaptive" else method
                weight = request.alpha
            ranked = self._article_first(fuse(dense, lexical, method, weight), store)
            stages["fusion"] = time.perf_counter() - at
        else:
            ranked = dense or lexical
        if request.phrases or request.excluded:
            ranked = _holding(ranked, store.texts_of([rowid for rowid, _ in ranked]),
                              request.phrases, request.excluded)
        others: dict[int, list[int]] = {}
        if request.group_by_document:
            ranked, others = _best_per_document(ranked, store.document_ids_of(ranked))
        page = ranked[offset : offset + k]
        passages = store.get_passages([rowid for rowid, _ in page])
        documents = store.documents_of_hits({p.document_id for p in passages})
        explained = _Explainer(dense, lexical) if request.explain else None
        shown = {p.rowid: p for p in store.get_passages(
            [other for rowid, _ in page for other in others.get(rowid, [])[:MORE_SHOWN]])}
        hits = [
            Hit(offset + i + 1, score, passage, *documents[passage.document_id],
                len(others.get(passage.rowid, [])) if request.group_by_document else None,
                explained.explain(passage.rowid, score) if explained else None,
                more=tuple(shown[r] for r in others.get(passage.rowid, [])[:MORE_SHOWN]))
            for i, ((_, score), passage) in enumerate(zip(page, passages, strict=True))
        ]
        if request.highlights and hits:
            # In lexical mode too: the query vector is then made for this alone (cached).
            marked = answer_sentences([hit.passage.text for hit in hits],
                                      self._embedder.embed_query(query), self._embedder)
            hits = [replace(hit, highlights=spans) for hit, spans in zip(hits, marked,
                                                                         strict=True)]
        weak = self._is_weak(query, dense, lexical, store)
        facets = Facets(*store.documents_by_folder_and_type(
            [rowid for rowid, _ in ranked])) if request.facets else None
        took_ms = (time.perf_counter() - started) * 1000
        logger.debug("search mode=%s k=%d took %.1f ms", mode, k, took_ms)
        return SearchResults(query, mode, k, offset, hits, weak, took_ms, facets, stages)

    def similar(self, passage_id: str, k: int = 10, offset: int = 0,
                same_document: bool = False) -> tuple[Hit, SearchResults]:
        """The passages nearest in meaning to a stored one, by its stored vector (nothing is
        embedded), itself left out and, unless ``same_document``, its document's too; and
        that passage, as a hit of rank 0 (for its document's title and source).

        Raises:
            PassageNotFoundError: no passage with that id in this generation.
        """
        started = time.perf_counter()
        store = self._store()
        like = store.passage_by_id(passage_id)
        if like is None:
            raise PassageNotFoundError(f"no passage with id {passage_id!r}")
        vector = self._vectors.vectors(np.asarray([like.rowid], dtype=np.int64))[0]
        left_out = ({like.rowid} if same_document
                    else set(store.rowids_where(document_ids=[like.document_id])))
        # Deep enough that offset + k remain once the left-out passages are taken away.
        depth = min(offset + k + len(left_out), self.passage_count)
        ranked = [(rowid, score) for rowid, score in self._vectors.search(vector, depth)
                  if rowid not in left_out]
        page = ranked[offset : offset + k]
        passages = store.get_passages([rowid for rowid, _ in page])
        documents = store.documents_of_hits({p.document_id for p in [like, *passages]})
        hits = [Hit(offset + i + 1, score, passage, *documents[passage.document_id])
                for i, ((_, score), passage) in enumerate(zip(page, passages, strict=True))]
        took_ms = (time.perf_counter() - started) * 1000
        return (Hit(0, 1.0, like, *documents[like.document_id]),
                SearchResults(like.text, "dense", k, offset, hits, False, took_ms))

    def _is_weak(
        self, query: str, dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
        store: PassageStore,
    ) -> bool:
        """Nothing matched, or the closest passage is far from the query in meaning and does
        not hold all of its words either (short keyword queries embed poorly)."""
        if dense and dense[0][1] >= self.weak_cosine:
            return False
        if not lexical:
            return True
        wanted = set(lexical_terms(query))
        best = store.get_passages([lexical[0][0]])[0]
        return not wanted <= set(lexical_terms(best.text))

    def get_document(self, document_id: str) -> tuple[Document, list[StoredPassage]]:
        """A document and its passages in order.

        Raises:
            DocumentNotFoundError: no document with that id in this generation.
        """
        store = self._store()
        document = store.get_document(document_id)
        if document is None:
            # An id given before a namesake with another extension came: both are now
            # known by their whole names. The old link says where to go.
            namesakes = store.ids_with_extension(document_id)
            hint = (f": two files share that name; it is now {' or '.join(map(repr, namesakes))}"
                    if namesakes else "")
            raise DocumentNotFoundError(f"no document with id {document_id!r}{hint}")
        return document, store.passages_of(document_id)

    def _article_first(self, ranked: list[tuple[int, float]], store: PassageStore
                       ) -> list[tuple[int, float]]:
        """``ranked`` with COMMENT_MARGIN taken off each comment's score, in the new order."""
        comments = self._comment_rowids
        if comments is None:
            comments = self._comment_rowids = frozenset(self._rowids_of_part("comment", store))
        if not comments:
            return ranked
        return sorted(((rowid, max(score - COMMENT_MARGIN, 0.0) if rowid in comments else score)
                       for rowid, score in ranked), key=lambda pair: (-pair[1], pair[0]))

    def _allowed(self, request: SearchRequest, store: PassageStore) -> list[int] | None:
        """The rowids a request may rank, ascending; None for all."""
        if request.filters_documents:
            return store.rowids_where(request.document_ids, request.paths, request.types,
                                      request.modified_after, request.modified_before,
                                      request.part)
        if request.part is None:
            return None
        return self._rowids_of_part(request.part, store)

    def _rowids_of_part(self, part: str, store: PassageStore) -> list[int]:
        """The rowids of ``part``'s passages, ascending."""
        of_part = self._part_rowids.get(part)
        if of_part is None:  # the same for every search of this generation: read once
            of_part = self._part_rowids[part] = store.rowids_of_part(part)
        return of_part

    def close(self) -> None:
        """Close every thread's SQLite connection and the vector index, once no search
        uses this searcher any more (a later search raises RuntimeError)."""
        with self._stores_lock:
            self._closed = True
            for store in self._stores:
                store.close()
            self._stores.clear()
        self._local = threading.local()  # the closed connections, forgotten by every thread
        self._vectors.close()

    def _store(self) -> PassageStore:
        store: PassageStore | None = getattr(self._local, "store", None)
        if store is None:
            with self._stores_lock:
                if self._closed:
                    raise RuntimeError(f"the searcher of generation {self.generation} is closed")
                store = PassageStore.open(self.folder / STORE_FILE)
                self._stores.append(store)
            self._local.store = store
        return store


def dense_candidates(
    vectors: VectorIndex, query_vector: NDArray[np.float32], allowed: list[int] | None
) -> list[tuple[int, float]]:
    """(rowid, cosine) best first, CANDIDATES of them if there are that many (of ``allowed``,
    ascending rowids, if given). An allowed subset is scored exactly from its vectors, unless
    it is large and a large share of the index: then the index is searched, deeper until
    enough of the subset is found, which costs less than reading every vector of it. An
    index that cannot give enough (an HNSW graph returns no more nodes than it visits) is
    left for the exact scoring (docs/benchmarks.md, "Filters")."""
    count = vectors.count
    if allowed is None:
        return vectors.search(query_vector, min(CANDIDATES, count))
    wanted = min(CANDIDATES, len(allowed))
    if len(allowed) > EXACT_SUBSET and len(allowed) >= INDEX_SHARE * count:
        kept = set(allowed)
        # As deep as the subset's share says, then twice as deep each time it falls short.
        depth = min(count, CANDIDATES * -(-count // len(allowed)))
        while True:
            found = [(rowid, score) for rowid, score in vectors.search(query_vector, depth)
                     if rowid in kept]
            if len(found) >= wanted:
                return found[:CANDIDATES]
            if depth == count:
                break
            depth = min(count, depth * 2)
    rowids = np.asarray(allowed, dtype=np.int64)
    scores = vectors.vectors(rowids) @ query_vector
    order = np.lexsort((rowids, -scores))[:CANDIDATES]
    return [(int(rowids[i]), float(scores[i])) for i in order]


def _holding(ranked: list[tuple[int, float]], texts: dict[int, str], phrases: Sequence[str],
             excluded: Sequence[str]) -> list[tuple[int, float]]:
    """The candidates whose text holds every phrase and none of the excluded words."""
    wanted = [phrase_pattern(p) for p in phrases]
    unwanted = [phrase_pattern(e) for e in excluded]
    return [(rowid, score) for rowid, score in ranked
            if all(w.search(texts[rowid]) for w in wanted)
            and not any(u.search(texts[rowid]) for u in unwanted)]


class _Explainer:
    """Looks up a hit's place in the dense and lexical candidate lists."""

    def __init__(self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]) -> None:
        self._dense = {rowid: (rank, score) for rank, (rowid, score) in enumerate(dense, 1)}
        self._lexical = {rowid: (rank, score) for rank, (rowid, score) in enumerate(lexical, 1)}

    def explain(self, rowid: int, score: float) -> Explanation:
        dense_rank, dense_score = self._dense.get(rowid, (None, None))
        lexical_rank, lexical_score = self._lexical.get(rowid, (None, None))
        return Explanation(dense_score, dense_rank, lexical_score, lexical_rank, score)


def _best_per_document(
    ranked: list[tuple[int, float]], document_of: dict[int, str]
) -> tuple[list[tuple[int, float]], dict[int, list[int]]]:
    """Keep each document's best passage; list the document's other passages (best first)
    under each kept one."""
    best: dict[str, int] = {}
    kept: list[tuple[int, float]] = []
    others: dict[int, list[int]] = {}
    for rowid, score in ranked:
        document_id = document_of[rowid]
        if document_id in best:
            others[best[document_id]].append(rowid)
            continue
        best[document_id] = rowid
        others[rowid] = []
        kept.append((rowid, score))
    return kept, others

