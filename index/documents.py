"""Loading a folder of documents (text, Markdown, HTML, PDF) into Documents with plain text."""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from index.config import Config
from index.time_limit import TimeLimitExceeded, time_limit

# bs4, pypdf and charset_normalizer are imported where first needed: most folders hold no
# HTML or PDF, and start-up is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import PageElement
    from pypdf import PdfReader

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf"})
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_HTML_SUFFIXES = frozenset({".html", ".htm"})

_MAX_TITLE_CHARS = 200
_MB = 1024 * 1024
# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer.
_OPEN_FLAGS: int = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)

# UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"\r\n?|[\v\f]")
# Control characters and lone surrogates break SQLite, JSON and UTF-8 encoding downstream.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\ud800-\udfff]")

_DROPPED_TAGS = [
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "svg", "iframe",
]  # fmt: skip
_BLOCK_TAGS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "div", "section",
    "article", "main", "td", "th", "dt", "dd", "figcaption", "tr", "table", "ul", "ol", "br",
})  # fmt: skip


class UnreadableDocumentError(Exception):
    """A file that cannot become a Document; ``reason`` says why, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Document:
    id: str  # relative POSIX path without its extension, e.g. "notes/todo"
    title: str
    source: str  # relative POSIX path with its extension, e.g. "notes/todo.md"
    text: str  # never empty; passages are character ranges of it
    content_hash: str  # sha256 hex of title + "\n\0" + text


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


@dataclass(frozen=True)
class LoadReport:
    documents: list[Document]
    skipped: list[SkippedFile]
    truncated: list[SkippedFile] = field(default_factory=list)  # indexed, but only in part


@dataclass(frozen=True)
class Limits:
    """What one file may cost; beyond the first two it is skipped, beyond chars cut."""

    max_bytes: int | None = Config.max_document_bytes  # None: any size
    seconds: float | None = Config.max_document_seconds  # None: no time limit
    max_chars: int = Config.max_document_chars


def load_documents(root: Path, limits: Limits = Limits()) -> LoadReport:  # noqa: B008
    """Load every supported file under ``root``; problems become SkippedFiles, never errors."""
    if not root.exists():
        raise FileNotFoundError(f"documents folder does not exist: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"documents folder is not a directory: {root}")
    real_root = root.resolve()
    paths, skipped = _walk(root, real_root)
    documents: list[Document] = []
    truncated: list[SkippedFile] = []
    first_source: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        source = path.relative_to(root).as_posix()
        doc_id = _doc_id(source)
        try:
            if path.suffix.lower() in SUPPORTED_SUFFIXES and doc_id in first_source:
                raise UnreadableDocumentError(
                    f"duplicate id '{doc_id}' (already from {first_source[doc_id]})"
                )
            with time_limit(limits.seconds) if limits.seconds is not None else nullcontext():
                document, cut = _load(path, root, real_root, limits)
        except UnreadableDocumentError as exc:
            skipped.append(SkippedFile(_printable(source), exc.reason))
        except TimeLimitExceeded:
            reason = f"took longer than {limits.seconds:g} s to read"
            skipped.append(SkippedFile(_printable(source), reason))
        except Exception as exc:  # a parser bug on one file must not stop the whole load
            logger.warning("unexpected error loading %r", source, exc_info=True)
            skipped.append(SkippedFile(_printable(source), f"error: {_short_message(exc)}"))
        else:
            first_source[doc_id] = source
            documents.append(document)
            if cut:
                truncated.append(SkippedFile(source, cut))
    skipped.sort(key=lambda s: s.source)
    for skip in skipped:
        logger.debug("skipped %s: %s", skip.source, skip.reason)
    logger.info("loaded %d documents from %s, skipped %d", len(documents), root, len(skipped))
    return LoadReport(documents, skipped, truncated)


def load_document(path: Path, root: Path) -> Document:
    """Load one file; raises UnreadableDocumentError with the reason it would be skipped."""
    return _load(path, root, root.resolve(), Limits(max_bytes=None, seconds=None))[0]


def _walk(root: Path, real_root: Path) -> tuple[list[Path], list[SkippedFile]]:
    """Non-hidden files under root, following symlinks that stay inside it, entering each real
    directory once. A link out of root is skipped: whoever made the folder (a git clone, an
    archive) could otherwise have the service serve any file the process can read."""
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


def _load(
    path: Path, root: Path, real_root: Path, limits: Limits
) -> tuple[Document, str | None]:
    """The document, and why its text was cut short (None if it was not)."""
    source = path.relative_to(root).as_posix()
    if _printable(source) != source:
        raise UnreadableDocumentError("file name is not valid UTF-8")
    real = _real_path_inside(path, real_root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableDocumentError(
            f"unsupported file type {suffix}" if suffix else "unsupported file type (no extension)"
        )
    data = _read(real, limits.max_bytes)
    if suffix == ".pdf":
        text, title = _extract_pdf(data, limits.max_chars)
    elif suffix in _HTML_SUFFIXES:
        text, title = _extract_html(data)
    else:
        text = _clean(_decode(data, declared=None)).strip()
        title = _markdown_title(text) if suffix in _MARKDOWN_SUFFIXES else _first_line(text)
    if not text:
        raise UnreadableDocumentError("empty")
    cut = None
    if len(text) > limits.max_chars:
        cut = (f"text cut to its first {limits.max_chars:,} characters "
               f"(of {len(text):,}{' or more' if suffix == '.pdf' else ''})")
        text = _cut(text, limits.max_chars)
    title = _tidy_title(title) or path.stem
    digest = hashlib.sha256(f"{title}\n\0{text}".encode()).hexdigest()
    return Document(_doc_id(source), title, source, text, digest), cut


def _cut(text: str, max_chars: int) -> str:
    """The first ``max_chars`` characters of ``text``, ending at a space if one is near."""
    head = text[:max_chars]
    space = head.rfind(" ", max(0, max_chars - 200))
    return (head[:space] if space > 0 else head).rstrip()


def _doc_id(source: str) -> str:
    return PurePosixPath(source).with_suffix("").as_posix()


def _printable(source: str) -> str:
    # Undecodable bytes in a file name arrive as lone surrogates, which no UTF-8 sink accepts.
    return source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read(real: Path, max_bytes: int | None) -> bytes:
    """The bytes of a file by its real path, checked to be inside the docs folder."""
    try:
        # O_NOFOLLOW refuses the path if its last part has been swapped for a link since.
        with os.fdopen(os.open(real, _OPEN_FLAGS | os.O_NOFOLLOW), "rb") as file:
            file_stat = os.fstat(file.fileno())
            if not stat.S_ISREG(file_stat.st_mode):
                raise UnreadableDocumentError("unreadable: not a regular file")
            if max_bytes is not None and file_stat.st_size > max_bytes:
                raise UnreadableDocumentError(
                    f"too large ({file_stat.st_size / _MB:.1f} MB > {max_bytes / _MB:g} MB limit)"
                )
            return file.read()
    except OSError as exc:
        raise UnreadableDocumentError(f"unreadable: {exc.strerror or exc}") from exc


def _decode(data: bytes, declared: str | None) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise UnreadableDocumentError("undecodable text") from None
    if b"\0" in data:
        raise UnreadableDocumentError("binary file")
    for candidate in ("utf-8", declared):
        if candidate:
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableDocumentError("undecodable text")
    # charset_normalizer often ties Western European text between cp1250, cp1252 and others
    # (and picks UTF-16 for very short text); cp1252 is by far the likeliest of equals.
    for match in matches:
        tied = (match.chaos, match.coherence) == (best.chaos, best.coherence)
        if tied and "cp1252" in match.could_be_from_charset:
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                break
    return str(best)


def _clean(text: str) -> str:
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def _collapse(text: str) -> str:
    return " ".join(_clean(text).split())


def _tidy_title(raw: str | None) -> str:
    title = _collapse(raw or "")
    if len(title) <= _MAX_TITLE_CHARS:
        return title
    head = title[: _MAX_TITLE_CHARS + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else title[:_MAX_TITLE_CHARS]
    return f"{cut}…"


def _first_line(text: str) -> str | None:
    return next((line for line in text.split("\n") if line.strip()), None)


def _markdown_title(text: str) -> str | None:
    lines = text.split("\n")
    if lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), 0)
        for line in lines[1:end]:
            if line.startswith("title:") and (value := line[6:].strip().strip("\"'")).strip():
                return value
        lines = lines[end + 1 :] if end else lines
    in_fence = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence  # a "# comment" inside a code block is not a heading
        elif not in_fence and (heading := _atx_heading(line)):
            return heading
    return _first_line("\n".join(lines))


def _atx_heading(line: str) -> str | None:
    """The text of a Markdown "# heading" line (CommonMark's rules), or None.

    String methods, not a regular expression: the obvious pattern backtracks quadratically
    on a long run of spaces between a heading's words and its closing #s.
    """
    rest = line.lstrip(" ")
    if len(line) - len(rest) > 3:
        return None
    marks = len(rest) - len(rest.lstrip("#"))
    rest = rest[marks:]
    if not 1 <= marks <= 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    unclosed = text.rstrip("#")
    if unclosed != text and (not unclosed or unclosed[-1] in " \t"):
        text = unclosed.rstrip(" \t")  # a closing run of #s is not part of the heading
    return text or None


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    # As browsers do: a UTF-16/32 label without a BOM is wrong, latin-1 and ascii mean cp1252.
    if name.startswith(("utf-16", "utf-32")):
        return None
    return "cp1252" if name in ("iso8859-1", "ascii") else name


def _extract_html(data: bytes) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag, XMLParsedAsHTMLWarning

    markup = _decode(data, declared=_declared_charset(data))
    # Neither warning is actionable for a file known to be HTML; pytest would turn them into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_DROPPED_TAGS):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()
    paragraphs = _html_paragraphs(soup)
    candidates = [soup.find("title"), soup.find("h1"), soup.find(["h2", "h3", "h4", "h5", "h6"])]
    title = next(
        (c.get_text() for c in candidates if isinstance(c, Tag) and _collapse(c.get_text())),
        paragraphs[0] if paragraphs else None,
    )
    return "\n\n".join(paragraphs), title


def _html_paragraphs(soup: BeautifulSoup) -> list[str]:
    from bs4.element import NavigableString, PreformattedString, Tag

    paragraphs: list[str] = []
    pieces: list[str] = []

    def end_paragraph() -> None:
        paragraph = _collapse("".join(pieces))
        pieces.clear()
        if paragraph:
            paragraphs.append(paragraph)

    # Iterative, with None marking a block's end, so deeply nested markup cannot overflow.
    stack: list[PageElement | None] = [soup]
    while stack:
        node = stack.pop()
        if node is None:
            end_paragraph()
        elif isinstance(node, Tag):
            if node.name == "title":
                continue  # it is the document's title, kept apart from its text
            if node.name in _BLOCK_TAGS:
                end_paragraph()
                stack.append(None)
            stack.extend(reversed(node.contents))
        # Comments, doctypes and processing instructions are PreformattedStrings: not text.
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            pieces.append(str(node))
    end_paragraph()
    return paragraphs


@contextmanager
def _pypdf_silenced() -> Iterator[None]:
    # pypdf logs every oddity of a malformed file; the skip reason already reports what matters.
    pypdf_logger = logging.getLogger("pypdf")
    previous_level = pypdf_logger.level
    pypdf_logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        pypdf_logger.setLevel(previous_level)


def _extract_pdf(data: bytes, max_chars: int) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        with _pypdf_silenced():
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("encrypted, needs a password")
            pages = _pdf_pages(reader, max_chars)
            metadata = reader.metadata
            meta_title = str(metadata.title) if metadata and metadata.title else None
    except Exception as exc:  # pypdf raises many exception types for malformed files
        raise UnreadableDocumentError(f"broken PDF: {_short_message(exc)}") from exc
    text = "\n\n".join(page for page in (_clean(p).strip() for p in pages) if page)
    if not text:
        raise UnreadableDocumentError("no text in PDF")
    return text, meta_title if meta_title and _collapse(meta_title) else _first_line(text)


def _pdf_pages(reader: PdfReader, max_chars: int) -> list[str]:
    """Each page's text, until there is more than ``max_chars`` of it.

    A page whose content streams another page already drew is not extracted again: pages
    sharing one large compressed stream are how a 4.7 KB file expands to a million characters.
    """
    pages: list[str] = []
    total = 0
    drawn: set[tuple[int, ...]] = set()
    for page in reader.pages:
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        references = contents if isinstance(contents, list) else [contents]
        key = tuple(getattr(r, "idnum", -1) for r in references)
        if -1 not in key:
            if key in drawn:
                continue
            drawn.add(key)
        pages.append(page.extract_text())
        total += len(pages[-1])
        if total > max_chars:
            break
    return pages


def _short_message(exc: Exception) -> str:
    message = (str(exc).strip() or type(exc).__name__).split("\n")[0]
    return message if len(message) <= 120 else f"{message[:117]}..."
