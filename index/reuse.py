"""What a rebuild may keep of the live generation: its passages and vectors, per document.

A document whose content hash is in the live generation keeps its passages and vectors;
others are chunked and embedded. A different model makes every document new, so vectors of
two models never mix. Different chunking settings (or chunker code) make every document
split again, but a passage that comes out the same, with the same title and heading trail
embedded before it, keeps its vector: the model would give it the same one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from index.config import Config
from index.documents import Document, skipped_records
from index.embedding import ModelInfo
from index.errors import IndexMismatchError
from index.generations import IndexFolder, read_manifest
from index.store import STORE_FILE, PassageStore
from index.vectors import VectorIndex, VectorStore, open_vector_index, store_entry

if TYPE_CHECKING:
    from index.build import BuildReport  # build imports this module

logger = logging.getLogger(__name__)


@dataclass
class PreviousGeneration:
    """The live generation, when its passages and vectors can be reused."""

    manifest: dict[str, Any]
    store: PassageStore
    vectors: VectorIndex
    by_hash: dict[str, str]  # content hash -> a document id that has it; {} when re-chunking
    same_lexical: bool  # built with the same analysis: its passages' BM25 terms can be kept
    # When the chunking changed: the key (``input_key``) of what was embedded for each
    # passage -> its rowid. None when documents are kept whole.
    by_input: dict[bytes, int] | None = None


def embedding_prefix(title: str, section: tuple[str, ...], title_in_embedding: bool,
                     section_in_embedding: bool) -> str:
    """What is embedded before a passage's text: its title and/or heading trail, as set."""
    context = [title] if title_in_embedding else []
    if section_in_embedding:
        context += section
    return f"{' › '.join(context)}: " if context else ""


def input_key(embedded: str) -> bytes:
    """A short key of what was embedded for a passage (its prefix and text): 16 bytes a
    passage instead of its text, when a live generation's are looked up."""
    return hashlib.blake2b(embedded.encode(), digest_size=16).digest()


def reusable_generation(
    folder: IndexFolder, model: ModelInfo, config: Config, full: bool, report: BuildReport
) -> PreviousGeneration | None:
    """The live generation, open, if its vectors can be reused; else None and the reason
    in ``report.full_reason``."""
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
        return None
    old_chunking = manifest["chunking"]["settings"]
    if old_chunking != config.chunking_settings():
        report.rechunk_reason = "chunking settings changed"
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
    same_lexical = manifest.get("lexical") == config.lexical_settings()
    if report.rechunk_reason is None:
        return PreviousGeneration(manifest, store, vectors, by_hash, same_lexical)
    # What was embedded for each passage, under the settings the live generation was built with.
    title_in, section_in = (old_chunking.get("title_in_embedding", False),
                            old_chunking.get("section_in_embedding", False))
    try:
        by_input = {
            input_key(embedding_prefix(title, section, title_in, section_in) + text): rowid
            for rowid, title, section, text in store.titled_passages()
        }
    except sqlite3.DatabaseError as e:  # a store from before passages had sections
        logger.warning("not reusing the live generation's vectors: %s: %s", STORE_FILE, e)
        by_input = {}
    return PreviousGeneration(manifest, store, vectors, {}, same_lexical, by_input)


def classify(documents: list[Document], old_hashes: dict[str, str], report: BuildReport) -> None:
    """Fill the report's added, changed, unchanged and removed document ids."""
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


def same_documents_and_settings(
    manifest: dict[str, Any], config: Config, store: VectorStore, report: BuildReport
) -> bool:
    """Whether the live generation already holds what this rebuild would write, the passage
    encoder aside (``report`` classified first). A different list of skipped files is a
    difference: the manifest records it (a generation without that record predates it)."""
    return (
        not (report.added or report.changed or report.removed)
        and manifest.get("skipped") == skipped_records(report.skipped)
        and manifest["faiss_factory"] == config.faiss_factory
        and store_entry(manifest)["uri"] == store.uri
        and manifest.get("lexical") == config.lexical_settings()
    )


def passage_encoder(manifest: dict[str, Any]) -> tuple[str, str | None]:
    """What embedded a generation's passages: backend and graph (none before the setting)."""
    model = manifest["model"]
    return str(model.get("passage_backend", "torch")), model.get("passage_graph_sha256")
