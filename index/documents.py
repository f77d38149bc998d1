"""Loading a folder of documents into Documents: the walk, the safety checks, the limits.

What a file's bytes say (text and title) is each format's business, in ``index.formats``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from index.config import Config
from index.formats import (
    EXTRACTORS,
    SUPPORTED_SUFFIXES,
    UnreadableDocumentError,
    format_of,
    reader_fingerprint,
)
from index.formats.decoding import collapse
from index.formats.extraction import short_message
from index.formats.structure import Structure
from index.time_limit import TimeLimitExceeded, time_limit
from index.titles import tidy_title

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "Limits",
    "LoadReport",
    "SkippedFile",
    "UnreadableDocumentError",
    "is_temporary",
    "load_document",
    "load_documents",
]

_MB = 1024 * 1024
# Files that are not documents but an editor's or a download's working copies: swap, backup
# and lock files, partial downloads, macOS folder metadata, vim's write test ("4913"), Office
# owner files ("~$a.docx"). Skipped without a word, as hidden files are.
TEMPORARY_NAMES = (
    "*.swp", "*.swx", "*.swo", "*~", "#*#", ".#*", ".DS_Store", "*.part", "*.crdownload",
    "*.tmp", "~$*", "4913",
)
MAX_AUTHOR_CHARS = 200
# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer.
_OPEN_FLAGS: int = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Document:
    id: str  # relative POSIX path without its extension, e.g. "notes/todo"
    title: str
    source: str  # relative POSIX path with its extension, e.g. "notes/todo.md"
    text: str  # never empty; passages are character ranges of it
    content_hash: str  # sha256 hex of title + "\n\0" + text
    # What it was read from and with: the file's sha256, and the reader (see ``reader_of``).
    file_sha256: str = ""
    reader: str = ""
    cut: str | None = None  # why the text is not all of the file's (cut, pages unread), if so
    attachments: tuple[str, ...] = ()  # names of the files attached to it, which are not read
    structure: Structure = Structure()  # its headings, code, pages (offsets into text)
    date: str | None = None  # of publication (YYYY-MM-DD), as the file states it
    author: str | None = None  # as the file states it
    size: int = 0  # the file's bytes
    modified: str | None = None  # the file's modification time, UTC, "2026-03-01T09:30:00Z"

    @property
    def type(self) -> str:
        """The file's type as its extension says it, lowercase without the dot: "pdf"."""
        return PurePosixPath(self.source).suffix.lower().lstrip(".")


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


def skipped_records(skipped: Sequence[SkippedFile]) -> list[dict[str, str]]:
    """Skipped files as a generation's manifest records them ("skipped"), by path."""
    return [{"source": s.source, "reason": s.reason}
            for s in sorted(skipped, key=lambda s: (s.source, s.reason))]


@dataclass(frozen=True)
class LoadReport:
    documents: list[Document]
    skipped: list[SkippedFile]
    truncated: list[SkippedFile] = field(default_factory=list)  # indexed, but only in part
    not_reread: int = 0  # documents taken as read before: same bytes, same reader


# The document read before from a source, if its file had this sha256 and was read by this
# reader (the live generation's passage store answers it); else None.
ReadBefore = Callable[[str, str, str], Document | None]


@dataclass(frozen=True)
class Limits:
    """What one file may cost; beyond the first two it is skipped, beyond chars cut."""

    max_bytes: int | None = Config.max_document_bytes  # None: any size
    seconds: float | None = Config.max_document_seconds  # None: no time limit
    max_chars: int = Config.max_document_chars


def load_documents(root: Path, limits: Limits = Limits(),  # noqa: B008
                   read_before: ReadBefore | None = None) -> LoadReport:
    """Load every supported file under ``root``; problems become SkippedFiles, never errors.

    A file whose bytes and reader are those of a document ``read_before`` knows is not read
    again (extraction can cost seconds a file: PDFs, Office files): that document is kept.
    """
    if not root.exists():
        raise FileNotFoundError(f"documents folder does not exist: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"documents folder is not a directory: {root}")
    real_root = root.resolve()
    paths, skipped = _walk(root, real_root)
    documents: list[Document] = []
    truncated: list[SkippedFile] = []
    first_source: dict[str, str] = {}
    not_reread = 0
    sources = sorted(p.relative_to(root).as_posix() for p in paths)
    shared = _shared_ids(sources)
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        source = path.relative_to(root).as_posix()
        # "notes/path" for notes/path.md, unless notes/path.html is there too: then each is
        # known by its whole name, "notes/path.md" and "notes/path.html".
        doc_id = source if _doc_id(source) in shared else _doc_id(source)
        try:
            if path.suffix.lower() in SUPPORTED_SUFFIXES and doc_id in first_source:
                raise UnreadableDocumentError(
                    f"duplicate id '{doc_id}' (already from {first_source[doc_id]})"
                )
            with time_limit(limits.seconds) if limits.seconds is not None else nullcontext():
                document, kept = _load(path, root, real_root, limits, read_before, doc_id)
        except UnreadableDocumentError as exc:
            skipped.append(SkippedFile(_printable(source), exc.reason))
        except TimeLimitExceeded:
            reason = f"took longer than {limits.seconds:g} s to read"
            skipped.append(SkippedFile(_printable(source), reason))
        except Exception as exc:  # a parser bug on one file must not stop the whole load
            logger.warning("unexpected error loading %r", source, exc_info=True)
            skipped.append(SkippedFile(_printable(source), f"error: {short_message(exc)}"))
        else:
            first_source[doc_id] = source
            documents.append(document)
            not_reread += kept
            if document.cut:
                truncated.append(SkippedFile(source, document.cut))
            skipped += (SkippedFile(_printable(f"{source}/{name}"), _attachment_reason(name))
                        for name in document.attachments)
    skipped.sort(key=lambda s: s.source)
    for skip in skipped:
        logger.debug("skipped %s: %s", skip.source, skip.reason)
    logger.info("loaded %d documents from %s, skipped %d", len(documents), root, len(skipped))
    return LoadReport(documents, skipped, truncated, not_reread)


def load_document(path: Path, root: Path) -> Document:
    """Load one file; raises UnreadableDocumentError with the reason it would be skipped."""
    doc_id = _doc_id(path.relative_to(root).as_posix())  # as if it had no namesake
    return _load(path, root, root.resolve(), Limits(max_bytes=None, seconds=None), None,
                 doc_id)[0]


def is_temporary(name: str) -> bool:
    """Whether a file name is an editor's or a download's working copy (``TEMPORARY_NAMES``)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in TEMPORARY_NAMES)


def _walk(root: Path, real_root: Path) -> tuple[list[Path], list[SkippedFile]]:
    """Files under root, hidden and temporary ones left out, following symlinks that stay
    inside it, entering each real directory once. A link out of root is skipped: whoever
    made the folder (a git clone, an archive) could otherwise have the service serve any
    file the process can read."""
    files: list[Path] = []
    problems: list[SkippedFile] = []
    root_stat = root.stat()
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            if directory == root:
                raise
            folder = f"{_printable(directory.relative_to(root).as_posix())}/"
            problems.append(SkippedFile(folder, f"unreadable: {exc.strerror or exc}"))
            continue
        subdirectories: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                entry_stat = entry.stat()
            except OSError as exc:
                broken = entry.is_symlink() and isinstance(exc, FileNotFoundError)
                reason = "broken symlink" if broken else f"unreadable: {exc.strerror or exc}"
                problems.append(SkippedFile(_printable(path.relative_to(root).as_posix()), reason))
                continue
            if entry.is_symlink():
                try:
                    _real_path_inside(path, real_root)
                except UnreadableDocumentError as exc:
                    name = _printable(path.relative_to(root).as_posix())
                    problems.append(SkippedFile(name, exc.reason))
                    continue
            if not stat.S_ISDIR(entry_stat.st_mode):
                if not is_temporary(entry.name):
                    files.append(path)
                continue
            key = (entry_stat.st_dev, entry_stat.st_ino)
            if key in visited:
                logger.debug("not entering %s again (symlink loop or alias)", path)
                continue
            visited.add(key)
            subdirectories.append(path)
        # Depth-first in name order, so of two routes to one directory the first path wins.
        pending.extend(reversed(subdirectories))
    return files, problems


def _real_path_inside(path: Path, real_root: Path) -> Path:
    """``path`` with every symlink resolved.

    Raises:
        UnreadableDocumentError: that is outside the docs folder, or a kernel or device file.
    """
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(real_root):
        raise UnreadableDocumentError("symlink to outside the docs folder")
    if real.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        # /proc, /sys and /dev files look regular but are not.
        raise UnreadableDocumentError("not a regular file")
    return real


def reader_of(suffix: str, limits: Limits) -> str:
    """What reads a file of this suffix into a document: its format's code, this module's
    (titles, cutting) and the character limit. A file is read again when this changes."""
    code = f"{reader_fingerprint(format_of(suffix))}.{reader_fingerprint(__name__)}"
    return f"{code}.{limits.max_chars}"


def _load(
    path: Path, root: Path, real_root: Path, limits: Limits, read_before: ReadBefore | None,
    doc_id: str,
) -> tuple[Document, bool]:
    """The document, and whether it was kept as read before rather than read."""
    source = path.relative_to(root).as_posix()
    if _printable(source) != source:
        raise UnreadableDocumentError("file name is not valid UTF-8")
    real = _real_path_inside(path, real_root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableDocumentError(
            f"unsupported file type {suffix}" if suffix else "unsupported file type (no extension)"
        )
    data, file_stat = _read(real, limits.max_bytes)
    file_sha256, reader = hashlib.sha256(data).hexdigest(), reader_of(suffix, limits)
    # Metadata, not content: a file touched but not changed is not read again, yet filters
    # by modification time see its new one.
    size, modified = file_stat.st_size, iso_utc(file_stat.st_mtime)
    if read_before and (known := read_before(source, file_sha256, reader)):
        return replace(known, id=doc_id, size=size, modified=modified), True
    extracted = EXTRACTORS[suffix](data, limits.max_chars)
    text = extracted.text
    if not text:
        raise UnreadableDocumentError("empty")
    notes = [extracted.missing] if extracted.missing else []
    if len(text) > limits.max_chars:
        notes.append(f"text cut to its first {limits.max_chars:,} characters "
                     f"(of {len(text):,}{' or more' if extracted.partial else ''})")
        text = _cut(text, limits.max_chars)
    cut = "; ".join(notes) or None
    title = tidy_title(extracted.title) or path.stem
    structure = extracted.structure.cut(len(text))
    author = collapse(extracted.author or "")[:MAX_AUTHOR_CHARS] or None
    document = Document(doc_id, title, source, text, content_hash(title, text, structure),
                        file_sha256, reader, cut, extracted.attachments, structure,
                        extracted.date, author, size, modified)
    return document, False


def iso_utc(timestamp: float) -> str:
    """A POSIX time as ISO 8601 in UTC to the second, "2026-03-01T09:30:00Z": such strings
    sort as the times do, so SQLite compares them as text."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_hash(title: str, text: str, structure: Structure) -> str:
    """What a document's passages and vectors depend on: its title, text and structure."""
    content = f"{title}\n\0{text}"
    if structure:  # unstructured text hashes as before structure was recorded
        content += f"\0{json.dumps(structure.to_json(), sort_keys=True)}"
    return hashlib.sha256(content.encode()).hexdigest()


def _attachment_reason(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return "attachment, not indexed: save it as a file of its own to index it"
    return f"attachment of unsupported file type {suffix or '(no extension)'}"


def _cut(text: str, max_chars: int) -> str:
    """The first ``max_chars`` characters of ``text``, ending at a space if one is near."""
    head = text[:max_chars]
    space = head.rfind(" ", max(0, max_chars - 200))
    return (head[:space] if space > 0 else head).rstrip()


def _doc_id(source: str) -> str:
    return PurePosixPath(source).with_suffix("").as_posix()


def _shared_ids(sources: Sequence[str]) -> set[str]:
    """The ids (names without their extension) that two or more supported files share."""
    counts = Counter(_doc_id(s) for s in sources
                     if PurePosixPath(s).suffix.lower() in SUPPORTED_SUFFIXES)
    return {doc_id for doc_id, n in counts.items() if n > 1}


def _printable(source: str) -> str:
    # Undecodable bytes in a file name arrive as lone surrogates, which no UTF-8 sink accepts.
    return source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read(real: Path, max_bytes: int | None) -> tuple[bytes, os.stat_result]:
    """The bytes of a file by its real path, checked to be inside the docs folder, and its
    status as it was read."""
    try:
        # O_NOFOLLOW refuses the path if its last part has been swapped for a link since.
        with os.fdopen(os.open(real, _OPEN_FLAGS | os.O_NOFOLLOW), "rb") as file:
            file_stat = os.fstat(file.fileno())
            if not stat.S_ISREG(file_stat.st_mode):
                raise UnreadableDocumentError("unreadable: not a regular file")
            if max_bytes is not None and file_stat.st_size > max_bytes:
                raise UnreadableDocumentError(
                    f"too large ({file_stat.st_size / _MB:.1f} MiB > {max_bytes / _MB:g} MiB limit)"
                )
            return file.read(), file_stat
    except OSError as exc:
        raise UnreadableDocumentError(f"unreadable: {exc.strerror or exc}") from exc

