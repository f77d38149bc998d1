"""Building an index generation from a docs folder: the one rebuild implementation.

Rebuilds are incremental: a document whose content hash is in the live generation keeps its
passages and vectors; others are chunked and embedded. A different model or different
chunking settings make every document new, so vectors of two models never mix.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from tqdm import tqdm

from index.chunking import Passage, split_passages
from index.config import Config
from index.documents import Document, Limits, SkippedFile, load_documents
from index.embedding import Embedder, ModelInfo, find_model
from index.errors import BuildError, IndexMismatchError
from index.generations import IndexFolder, generation_name, read_manifest, write_manifest
from index.store import PassageStore, PassageStoreWriter, StoredPassage
from index.time_limit import TimeLimitExceeded, time_limit
from index.vector_store import (
    VectorIndex,
    VectorStore,
    open_vector_index,
    open_vector_store,
    store_entry,
)

logger = logging.getLogger(__name__)

STORE_FILE = "passages.sqlite"


@dataclass
class BuildReport:
    """What a rebuild did, for the summary the script prints."""

    generation: str | None = None  # the published generation; None when already up to date
    added: list[str] = field(default_factory=list)  # document ids
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Documents in the index by file type (".docx"), most common first.
    by_type: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    truncated: list[SkippedFile] = field(default_factory=list)  # indexed in part; reason why
    passages: int = 0  # in the index after the build
    embedded: int = 0  # passages embedded by this build
    full_reason: str | None = None  # why nothing could be reused, if so
    seconds: float = 0.0


@dataclass
class _Previous:
    """The live generation, when its passages and vectors can be reused."""

    manifest: dict[str, Any]
    store: PassageStore
    vectors: VectorIndex
    by_hash: dict[str, str]  # content hash -> a document id that has it


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
        documents = _load(config, report)
        store = open_vector_store(config.vector_store)
        # Vectors a killed build wrote to a vector server, which no folder holds.
        store.prune({p.name for p in folder.published()})
        _build(folder, store, documents, model, config, full, progress, embedder, ray_address,
               report, started)
    report.seconds = time.monotonic() - started
    return report


def _build(
    folder: IndexFolder, store: VectorStore, documents: list[Document], model: ModelInfo,
    config: Config, full: bool, progress: bool, embedder: Embedder | None,
    ray_address: str | None, report: BuildReport, started: float,
) -> None:
    """Write and publish a new generation, unless the live one is up to date."""
    previous = _reusable_generation(folder, model, config, full, report)
    try:
        old_hashes = previous.store.content_hashes() if previous else {}
        _classify(documents, old_hashes, report)
        old_encoder = _passage_encoder(previous.manifest) if previous else None
        if previous and _up_to_date(previous.manifest, config, store, report):
            # Same documents and settings: current if the same encoder made the vectors.
            # (Loading an ONNX one is cheap; torch is only compared by name.)
            if embedder is None and config.passage_backend == "torch":
                current = old_encoder == ("torch", None)
            else:
                embedder = embedder or _passage_embedder(model, config)
                current = old_encoder == embedder.passage_encoder
            if current:
                report.passages = previous.manifest["counts"]["passages"]
                return
        embedder = embedder or _passage_embedder(model, config)
        if previous and old_encoder != embedder.passage_encoder:
            # Vectors of one model from two runtimes are close, not equal: never mix them,
            # nor vectors of two int8 graphs.
            report.full_reason = (
                f"passage encoder changed ({_passage_encoder(previous.manifest)[0]} -> "
                f"{embedder.passage_backend})"
            )
            previous.store.close()
            previous = None
        _write_generation(folder, store, documents, previous, embedder, config, progress,
                          ray_address, report, started)
    finally:
        if previous:
            previous.store.close()


def _load(config: Config, report: BuildReport) -> list[Document]:
    try:
        loaded = load_documents(config.docs_dir, Limits(
            config.max_document_bytes, config.max_document_seconds, config.max_document_chars
        ))
    except (FileNotFoundError, NotADirectoryError) as e:
        raise BuildError(f"docs folder {config.docs_dir} does not exist or is not a folder") from e
    except OSError as e:  # the folder itself: what is unreadable inside it is only skipped
        raise BuildError(f"cannot read the docs folder {config.docs_dir}: "
                         f"{e.strerror or e}") from e
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


def _reusable_generation(
    folder: IndexFolder, model: ModelInfo, config: Config, full: bool, report: BuildReport
) -> _Previous | None:
    try:
        live = folder.current_or_none()
    except IndexMismatchError as e:
        logger.warning("not reusing the live generation: %s", e)
        report.full_reason = f"live generation unusable ({e})"
        return None
    if full:
        report.full_reason = "--full given"
    elif live is None:
        report.full_reason = "no index yet"
    if report.full_reason or live is None:
        return None
    try:
        manifest = read_manifest(live)
    except IndexMismatchError as e:
        logger.warning("not reusing the live generation: %s", e)
        report.full_reason = f"live generation unusable ({e})"
        return None
    if not model.same_vectors(manifest["model"]):
        report.full_reason = f"model changed ({manifest['model']['name']} -> {model.name})"
    elif manifest["chunking"]["settings"] != config.chunking_settings():
        report.full_reason = "chunking settings changed"
    if report.full_reason:
        return None
    try:
        vectors = open_vector_index(live, manifest, manifest["model"], config.vector_store)
    except IndexMismatchError as e:
        logger.warning("not reusing the live generation: %s", e)
        report.full_reason = f"live generation unusable ({e})"
        return None
    recorded = manifest["model"]["dimension"]
    if vectors.dimension != recorded:
        report.full_reason = (
            f"live generation unusable (vectors of dimension {vectors.dimension}, "
            f"its manifest says {recorded})"
        )
        return None
    store = PassageStore.open(live / STORE_FILE)
    try:
        by_hash = {h: doc_id for doc_id, h in store.content_hashes().items()}
    except sqlite3.DatabaseError as e:
        store.close()
        logger.warning("not reusing the live generation: %s: %s", STORE_FILE, e)
        report.full_reason = f"live generation unusable ({STORE_FILE}: {e})"
        return None
    return _Previous(manifest, store, vectors, by_hash)


def _classify(documents: list[Document], old_hashes: dict[str, str], report: BuildReport) -> None:
    ids = set()
    for document in documents:
        ids.add(document.id)
        if document.id not in old_hashes:
            report.added.append(document.id)
        elif old_hashes[document.id] != document.content_hash:
            report.changed.append(document.id)
        else:
            report.unchanged.append(document.id)
    report.removed = sorted(set(old_hashes) - ids)


def _up_to_date(
    manifest: dict[str, Any], config: Config, store: VectorStore, report: BuildReport
) -> bool:
    return (
        not (report.added or report.changed or report.removed)
        and manifest["faiss_factory"] == config.faiss_factory
        and store_entry(manifest)["uri"] == store.uri
        and manifest.get("lexical") == config.lexical_settings()
    )


def _passage_embedder(model: ModelInfo, config: Config) -> Embedder:
    """The configured model for embedding passages; queries share its encoder."""
    return Embedder.load(model, config.passage_backend, config.passage_backend, config.cache_dir)


def _passage_encoder(manifest: dict[str, Any]) -> tuple[str, str | None]:
    """What embedded a generation's passages: backend and graph (none before the setting)."""
    model = manifest["model"]
    return str(model.get("passage_backend", "torch")), model.get("passage_graph_sha256")


def _write_generation(
    folder: IndexFolder,
    store: VectorStore,
    documents: list[Document],
    previous: _Previous | None,
    embedder: Embedder,
    config: Config,
    progress: bool,
    ray_address: str | None,
    report: BuildReport,
    started: float,
) -> None:
    max_tokens = _passage_token_limit(config, embedder)
    build_folder = folder.new_build_folder()
    entry: dict[str, Any] | None = None  # the vectors written, until published
    try:
        plan = _write_passages(build_folder, documents, previous, embedder, config, max_tokens,
                               progress, report)
        vectors = np.empty((plan.count, embedder.dimension), np.float32)
        if previous and plan.reused_rows:
            rowids = np.asarray(plan.previous_rows, dtype=np.int64) + 1
            vectors[plan.reused_rows] = previous.vectors.vectors(rowids)
        vectors[plan.new_rows] = _embed(embedder, plan.new_inputs, config, progress, ray_address)
        entry = store.write(build_folder, generation_name(build_folder), vectors,
                            config.faiss_factory, embedder.fingerprint(), progress)
        report.passages = plan.count
        report.embedded = len(plan.new_rows)
        write_manifest(build_folder, {
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - started, 3),
            "model": embedder.fingerprint(),
            "chunking": {"settings": config.chunking_settings(), "max_tokens": max_tokens},
            "faiss_factory": config.faiss_factory,  # as configured, compared by the next build
            "vector_store": entry,  # where the vectors are, and the index type "auto" chose
            "lexical": config.lexical_settings(),
            "counts": {"documents": plan.documents, "passages": plan.count},
            "docs_dir": str(Path(config.docs_dir).resolve()),
        })
        report.generation = folder.publish(build_folder, config.keep_generations).name
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


def _embed(
    embedder: Embedder, texts: list[str], config: Config, progress: bool,
    ray_address: str | None,
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The passages' vectors, embedded here or as a job on a Ray cluster."""
    if ray_address is None:
        return embedder.embed_passages(texts, config.batch_size, progress)
    from index.ray_embedding import embed_on_ray  # Ray is imported only when asked for

    return embed_on_ray(ray_address, texts, embedder, config, progress)


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
    build_folder: Path,
    documents: list[Document],
    previous: _Previous | None,
    embedder: Embedder,
    config: Config,
    max_tokens: int,
    progress: bool,
    report: BuildReport,
) -> _VectorPlan:
    """Store every document with its passages, reused or freshly split; one that takes
    longer than ``config.max_document_seconds`` to split is skipped and reported."""
    writer = PassageStoreWriter(build_folder / STORE_FILE)
    plan = _VectorPlan()
    # Unchanged passages keep their BM25 terms too, unless the analysis changed.
    same_lexical = previous is not None and (
        previous.manifest.get("lexical") == config.lexical_settings()
    )

    def split(document: Document) -> list[Passage] | None | TimeLimitExceeded:
        """The passages of a new or changed document; None for one whose passages are reused."""
        if previous and document.content_hash in previous.by_hash:
            return None
        try:
            with time_limit(config.max_document_seconds):
                return split_passages(
                    document.text,
                    _prefixed_counter(embedder, _embedding_prefix(document, config)),
                    max_tokens, config.overlap_sentences, config.min_passage_words,
                )
        except TimeLimitExceeded as e:
            return e

    # Splitting is mostly the tokenizer counting word pieces, which runs outside the GIL:
    # one document per core at a time; they are stored in order.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        split_documents = tqdm(zip(documents, pool.map(split, documents), strict=True),
                               desc="Chunking", unit="doc", total=len(documents),
                               file=sys.stderr, disable=not progress)
        for document, passages in split_documents:
            if isinstance(passages, TimeLimitExceeded):
                _skip_slow_document(document, config, report)
                continue
            _store_document(writer, plan, document, passages, previous, same_lexical, config)
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
    writer: PassageStoreWriter, plan: _VectorPlan, document: Document,
    passages: list[Passage] | None, previous: _Previous | None, same_lexical: bool,
    config: Config,
) -> None:
    """Store one document with its new ``passages``, or with its reused ones if None."""
    context = document.title if config.title_in_lexical else ""
    if passages is None:
        assert previous is not None
        old = previous.store.passages_of(previous.by_hash[document.content_hash])
        terms = previous.store.terms_of([p.rowid for p in old]) if same_lexical else None
        rows = writer.add(document, _with_ids(document.id, old), context, terms)
        plan.reused_rows.extend(row - 1 for row in rows)
        plan.previous_rows.extend(p.rowid - 1 for p in old)
        return
    rows = writer.add(document, _with_ids(document.id, passages), context)
    prefix = _embedding_prefix(document, config)
    plan.new_rows.extend(row - 1 for row in rows)
    plan.new_inputs.extend(prefix + p.text for p in passages)


def _prefixed_counter(embedder: Embedder, prefix: str) -> Callable[[str], int]:
    """Counts the tokens of a passage as embedded, with its prefix."""
    return lambda text: embedder.count_tokens(prefix + text)


def _passage_token_limit(config: Config, embedder: Embedder) -> int:
    if config.max_passage_tokens > embedder.max_tokens:
        raise BuildError(
            f"max_passage_tokens {config.max_passage_tokens} exceeds the model's limit of "
            f"{embedder.max_tokens}: the model would cut passages"
        )
    return config.max_passage_tokens or embedder.max_tokens


def _embedding_prefix(document: Document, config: Config) -> str:
    return f"{document.title}: " if config.title_in_embedding else ""


def _with_ids(
    document_id: str, passages: Sequence[Passage | StoredPassage]
) -> list[tuple[str, int, int, str]]:
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
        rows.append((passage_id, passage.start, passage.end, passage.text))
    return rows

