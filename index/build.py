"""Building an index generation from a docs folder: the one rebuild implementation.

Rebuilds are incremental (``index.reuse`` decides what the live generation lends): unchanged
documents keep their passages and vectors, the others are chunked and embedded here or on a
Ray cluster. The new generation is written into a build folder and published only whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from tqdm import tqdm

from index.chunking import Passage, split_passages
from index.config import Config
from index.documents import Document, Limits, SkippedFile, load_documents, skipped_records
from index.embedding import Embedder, ModelInfo, find_model
from index.errors import BuildError, IndexMismatchError
from index.generations import IndexFolder, generation_name, write_manifest
from index.reuse import (
    PreviousGeneration,
    classify,
    embedding_prefix,
    input_key,
    passage_encoder,
    reusable_generation,
    same_documents_and_settings,
)
from index.store import STORE_FILE, PassageStore, PassageStoreWriter, StoredPassage
from index.time_limit import TimeLimitExceeded, time_limit
from index.vectors import VectorStore, open_vector_store
from index.weak_match import weak_cosine

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a rebuild did, for the summary the script prints."""

    generation: str | None = None  # the published generation; None when already up to date
    added: list[str] = field(default_factory=list)  # document ids
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_reread: int = 0  # documents kept as read by the live generation (same bytes, code)
    # Documents in the index by file type (".docx"), most common first.
    by_type: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    truncated: list[SkippedFile] = field(default_factory=list)  # indexed in part; reason why
    passages: int = 0  # in the index after the build
    embedded: int = 0  # passages embedded by this build
    full_reason: str | None = None  # why nothing could be reused, if so
    # Why every document was split again (vectors of passages that came out the same kept).
    rechunk_reason: str | None = None
    seconds: float = 0.0


@dataclass
class _Build:
    """One rebuild under way: what its steps share, and the report they fill in."""

    config: Config
    folder: IndexFolder
    store: VectorStore  # where the vectors go
    model: ModelInfo
    report: BuildReport
    progress: bool  # progress bars on stderr
    ray_address: str | None  # embed on this Ray cluster instead of in this process
    started: float  # time.monotonic() at the start
    embedder: Embedder | None = None  # the passage model, loaded when first needed
    previous: PreviousGeneration | None = None  # the live generation, while reused

    def passage_embedder(self) -> Embedder:
        """The configured model for embedding passages; queries share its encoder."""
        if self.embedder is None:
            backend = self.config.passage_backend
            self.embedder = Embedder.load(self.model, backend, backend, self.config.cache_dir)
        return self.embedder


def build_index(
    config: Config, full: bool = False, progress: bool = False, embedder: Embedder | None = None,
    ray_address: str | None = None,
) -> BuildReport:
    """Index ``config.docs_dir`` into a new generation of ``config.index_dir`` and publish it.

    Args:
        full: re-embed everything instead of reusing the live generation.
        progress: show progress bars on stderr.
        embedder: an already loaded model for ``config.model`` (else loaded when needed).
        ray_address: embed the passages on this Ray cluster instead of in this process.
    Raises:
        BuildError: nothing usable to index, the docs folder is missing, another rebuild is
            running, or writing failed. The live generation is never changed then.
        ModelError: the model cannot be found or loaded.
    """
    started = time.monotonic()
    if not Path(config.docs_dir).is_dir():
        raise BuildError(f"docs folder {config.docs_dir} does not exist or is not a folder")
    folder = IndexFolder(config.index_dir)
    report = BuildReport()
    with folder.lock():
        folder.remove_leftovers()
        model = embedder.info if embedder else find_model(config.model)
        documents = _load(config, report, folder, full)
        store = open_vector_store(config.vector_store)
        # Vectors a killed build wrote to a vector server, which no folder holds.
        store.prune({p.name for p in folder.published()})
        build = _Build(config=config, folder=folder, store=store, model=model, report=report,
                       progress=progress, ray_address=ray_address, started=started,
                       embedder=embedder)
        _build(build, documents, full)
    report.seconds = time.monotonic() - started
    return report


def _build(build: _Build, documents: list[Document], full: bool) -> None:
    """Write and publish a new generation, unless the live one is up to date."""
    config, report = build.config, build.report
    build.previous = previous = reusable_generation(build.folder, build.model, config, full,
                                                    report)
    try:
        classify(documents, previous.store.content_hashes() if previous else {}, report)
        old_encoder = passage_encoder(previous.manifest) if previous else None
        if previous and not report.rechunk_reason and same_documents_and_settings(
                previous.manifest, config, build.store, report):
            # Same documents and settings: current if the same encoder made the vectors.
            # (Loading an ONNX one is cheap; torch is only compared by name.)
            if build.embedder is None and config.passage_backend == "torch":
                current = old_encoder == ("torch", None)
            else:
                current = old_encoder == build.passage_embedder().passage_encoder
            if current:
                report.passages = previous.manifest["counts"]["passages"]
                return
        embedder = build.passage_embedder()
        if previous and old_encoder != embedder.passage_encoder:
            # Vectors of one model from two runtimes are close, not equal: never mix them,
            # nor vectors of two int8 graphs.
            report.full_reason = (
                f"passage encoder changed ({passage_encoder(previous.manifest)[0]} -> "
                f"{embedder.passage_backend})"
            )
            previous.store.close()
            build.previous = previous = None
        _write_generation(build, documents)
    finally:
        if previous:
            previous.store.close()


def _load(config: Config, report: BuildReport, folder: IndexFolder, full: bool) -> list[Document]:
    """The documents of the docs folder; files read before by the same code, with the same
    bytes, are taken from the live generation (all are read again with ``full``)."""
    live_store = None if full else _live_store(folder)
    try:
        loaded = load_documents(config.docs_dir, Limits(
            config.max_document_bytes, config.max_document_seconds, config.max_document_chars
        ), live_store.read_before() if live_store else None)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise BuildError(f"docs folder {config.docs_dir} does not exist or is not a folder") from e
    except OSError as e:  # the folder itself: what is unreadable inside it is only skipped
        raise BuildError(f"cannot read the docs folder {config.docs_dir}: "
                         f"{e.strerror or e}") from e
    finally:
        if live_store:
            live_store.close()
    report.not_reread = loaded.not_reread
    report.skipped = loaded.skipped
    report.truncated = loaded.truncated
    types = Counter(PurePosixPath(d.source).suffix.lower() for d in loaded.documents)
    report.by_type = dict(sorted(types.items(), key=lambda item: (-item[1], item[0])))
    for skipped in loaded.skipped:
        logger.warning("skipped %s: %s", skipped.source, skipped.reason)
    for cut in loaded.truncated:
        logger.warning("%s: %s", cut.source, cut.reason)
    if not loaded.documents:
        raise BuildError(
            f"no usable documents in {config.docs_dir} ({len(loaded.skipped)} files skipped)"
        )
    return loaded.documents


def _write_generation(build: _Build, documents: list[Document]) -> None:
    config, folder, store, previous = build.config, build.folder, build.store, build.previous
    embedder = build.passage_embedder()
    max_tokens = _passage_token_limit(config, embedder)
    build_folder = folder.new_build_folder()
    entry: dict[str, Any] | None = None  # the vectors written, until published
    try:
        plan = _write_passages(build, build_folder, documents, max_tokens)
        vectors = np.empty((plan.count, embedder.dimension), np.float32)
        if previous and plan.reused_rows:
            rowids = np.asarray(plan.previous_rows, dtype=np.int64) + 1
            vectors[plan.reused_rows] = previous.vectors.vectors(rowids)
        vectors[plan.new_rows] = _embed(build, plan.new_inputs)
        entry = store.write(build_folder, generation_name(build_folder), vectors,
                            config.faiss_factory, embedder.fingerprint(), build.progress)
        build.report.passages = plan.count
        build.report.embedded = len(plan.new_rows)
        write_manifest(build_folder, {
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - build.started, 3),
            "model": embedder.fingerprint(),
            "chunking": {"settings": config.chunking_settings(), "max_tokens": max_tokens},
            "faiss_factory": config.faiss_factory,  # as configured, compared by the next build
            "vector_store": entry,  # where the vectors are, and the index type "auto" chose
            "lexical": config.lexical_settings(),
            "counts": {"documents": plan.documents, "passages": plan.count},
            # Under this a best match is "no close match", measured for these passages.
            "weak_cosine": weak_cosine(embedder, vectors),
            "docs_dir": str(Path(config.docs_dir).resolve()),
            # The files left out, and why: the service lists them (its /skipped page).
            "skipped": skipped_records(build.report.skipped),
        })
        build.report.generation = folder.publish(build_folder, config.keep_generations).name
        # Then the store's own pointer (Milvus's alias): readers follow CURRENT, so a kill
        # between the two leaves them consistent, and the next build moves the alias.
        store.publish(entry)
        store.prune({p.name for p in folder.published()})
    except OSError as e:
        raise BuildError(f"cannot write the new generation in {folder.root}: {e}") from e
    finally:
        if build_folder.exists():  # the build failed or was interrupted
            shutil.rmtree(build_folder, ignore_errors=True)
            if entry is not None:
                store.discard(entry)


def _embed(build: _Build, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The passages' vectors, embedded here or as a job on a Ray cluster."""
    embedder = build.passage_embedder()
    if build.ray_address is None:
        return embedder.embed_passages(texts, build.config.batch_size, build.progress)
    from index.ray_embedding import embed_on_ray  # Ray is imported only when asked for

    return embed_on_ray(build.ray_address, texts, embedder, build.config, build.progress)


@dataclass
class _VectorPlan:
    """Where each passage's vector comes from; rows are rowid - 1."""

    count: int = 0
    documents: int = 0  # stored: those that did not run out of time being split
    reused_rows: list[int] = field(default_factory=list)
    previous_rows: list[int] = field(default_factory=list)  # their rows in the live vectors
    new_rows: list[int] = field(default_factory=list)
    new_inputs: list[str] = field(default_factory=list)  # what to embed for new_rows


def _write_passages(
    build: _Build, build_folder: Path, documents: list[Document], max_tokens: int
) -> _VectorPlan:
    """Store every document with its passages, reused or freshly split; one that takes
    longer than ``config.max_document_seconds`` to split is skipped and reported."""
    config, previous, embedder = build.config, build.previous, build.passage_embedder()
    writer = PassageStoreWriter(build_folder / STORE_FILE)
    plan = _VectorPlan()

    def split(document: Document) -> list[Passage] | None | TimeLimitExceeded:
        """The passages of a new or changed document; None for one whose passages are reused."""
        if previous and document.content_hash in previous.by_hash:
            return None
        try:
            with time_limit(config.max_document_seconds):
                return split_passages(
                    document.text, embedder.count_tokens, max_tokens, config.overlap_sentences,
                    config.min_passage_words, document.structure,
                    lambda section: _embedding_prefix(document, section, config),
                )
        except TimeLimitExceeded as e:
            return e

    # Splitting is mostly the tokenizer counting word pieces, which runs outside the GIL:
    # one document per core at a time; they are stored in order.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        split_documents = tqdm(zip(documents, pool.map(split, documents), strict=True),
                               desc="Chunking", unit="doc", total=len(documents),
                               file=sys.stderr, disable=not build.progress)
        for document, passages in split_documents:
            if isinstance(passages, TimeLimitExceeded):
                _skip_slow_document(document, config, build.report)
                continue
            _store_document(build, writer, plan, document, passages)
            plan.documents += 1
    if not plan.documents:
        raise BuildError(f"no usable documents in {config.docs_dir}: none could be split in "
                         f"{config.max_document_seconds:g} s")
    writer.finish()
    plan.count = len(plan.reused_rows) + len(plan.new_rows)
    return plan


def _skip_slow_document(document: Document, config: Config, report: BuildReport) -> None:
    reason = f"took longer than {config.max_document_seconds:g} s to split into passages"
    logger.warning("skipped %s: %s", document.source, reason)
    report.skipped.append(SkippedFile(document.source, reason))
    for ids in (report.added, report.changed):
        if document.id in ids:
            ids.remove(document.id)


def _store_document(
    build: _Build, writer: PassageStoreWriter, plan: _VectorPlan, document: Document,
    passages: list[Passage] | None,
) -> None:
    """Store one document with its new ``passages``, or with its reused ones if None."""
    config = build.config

    def context(passage: Passage | StoredPassage) -> str:
        """The words BM25 counts with a passage's own."""
        title = document.title if config.title_in_lexical else ""
        return f"{title} {' '.join(passage.section)}" if config.section_in_lexical else title

    if passages is None:
        previous = build.previous
        assert previous is not None
        old = previous.store.passages_of(previous.by_hash[document.content_hash])
        # Unchanged passages keep their BM25 terms too, unless the analysis changed.
        terms = previous.store.terms_of([p.rowid for p in old]) if previous.same_lexical else None
        rows = writer.add(document, _with_ids(document.id, old), context, terms)
        plan.reused_rows.extend(row - 1 for row in rows)
        plan.previous_rows.extend(p.rowid - 1 for p in old)
        return
    rows = writer.add(document, _with_ids(document.id, passages), context)
    by_input = build.previous.by_input if build.previous else None
    for row, passage in zip(rows, passages, strict=True):
        embedded = _embedding_prefix(document, passage.section, config) + passage.text
        old_rowid = by_input.get(input_key(embedded)) if by_input else None
        if old_rowid is not None:  # split as before: the live generation's vector is its
            plan.reused_rows.append(row - 1)
            plan.previous_rows.append(old_rowid - 1)
        else:
            plan.new_rows.append(row - 1)
            plan.new_inputs.append(embedded)


def _passage_token_limit(config: Config, embedder: Embedder) -> int:
    if config.max_passage_tokens > embedder.max_tokens:
        raise BuildError(
            f"max_passage_tokens {config.max_passage_tokens} exceeds the model's limit of "
            f"{embedder.max_tokens}: the model would cut passages"
        )
    return config.max_passage_tokens or embedder.max_tokens


def _embedding_prefix(document: Document, section: tuple[str, ...], config: Config) -> str:
    """What is embedded before a passage's text: its title and/or heading trail, as set."""
    return embedding_prefix(document.title, section, config.title_in_embedding,
                            config.section_in_embedding)


def _with_ids(
    document_id: str, passages: Sequence[Passage | StoredPassage]
) -> list[tuple[str, Passage | StoredPassage]]:
    """Attach stable ids: a hash of the document id and the passage text."""
    rows = []
    taken: set[str] = set()
    for passage in passages:
        key = f"{document_id}\0{passage.text}"
        passage_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        while passage_id in taken:  # the same text twice in one document
            key += "\0"
            passage_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        taken.add(passage_id)
        rows.append((passage_id, passage))
    return rows


def _live_store(folder: IndexFolder) -> PassageStore | None:
    """The live generation's passage store, or None if there is none that opens."""
    try:
        live = folder.current_or_none()
        return PassageStore.open(live / STORE_FILE) if live else None
    except (IndexMismatchError, sqlite3.DatabaseError, OSError) as e:
        logger.info("reading every file: the live generation's store is unusable (%s)", e)
        return None
