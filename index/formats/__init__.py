"""The file formats a docs folder may hold: which extractor reads a file, by its suffix.

A format is one module with an ``extract(data, max_chars) -> Extracted`` function (see
``index.formats.extraction``); adding one is adding its module and its suffixes below.
Each imports its parsing library (bs4, pypdf, python-docx, python-pptx, odfpy, docutils,
striprtf) only when a file of its type is read; docs/formats.md says why each.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType, ModuleType

from index.formats import (
    email_message,
    epub,
    html,
    markdown,
    notebook,
    ocr,
    opendocument,
    pdf,
    plain_text,
    powerpoint,
    restructured_text,
    rtf,
    word,
)
from index.formats.extraction import Extracted, Extractor, UnreadableDocumentError

EXTRACTORS: Mapping[str, Extractor] = MappingProxyType({
    ".txt": plain_text.extract,
    ".md": markdown.extract,
    ".markdown": markdown.extract,
    ".html": html.extract,
    ".htm": html.extract,
    ".pdf": pdf.extract,
    ".docx": word.extract,
    ".pptx": powerpoint.extract,
    ".odt": opendocument.extract_text_document,
    ".odp": opendocument.extract_presentation,
    ".epub": epub.extract,
    ".rst": restructured_text.extract,
    ".rtf": rtf.extract,
    ".eml": email_message.extract,
    ".ipynb": notebook.extract,
})
SUPPORTED_SUFFIXES = frozenset(EXTRACTORS)

__all__ = [
    "EXTRACTORS",
    "SUPPORTED_SUFFIXES",
    "Extracted",
    "Extractor",
    "UnreadableDocumentError",
    "format_of",
    "reader_fingerprint",
]


# The code that turns a file's bytes into a document's title and text.
_TEXT_CODE = ("index.formats.", "index.documents", "index.titles")


@cache
def reader_fingerprint(module_name: str) -> str:
    """A short hash of the code that turns a file into text: the module's source and that of
    every module of ``_TEXT_CODE`` it uses (transitively), the registry itself left out, so
    that a change to one format's code re-reads that format's files and no other's."""
    digest = hashlib.sha256()
    code = _code_of(module_name)
    for name in sorted(code):
        digest.update(name.encode() + b"\0" + Path(sys.modules[name].__file__ or "").read_bytes())
    if ocr.__name__ in code:  # Tesseract installed since: the scans can be read now
        digest.update(b"ocr" if ocr.available() else b"no ocr")
    return digest.hexdigest()[:16]


def _code_of(module_name: str) -> set[str]:
    """The modules of ``_TEXT_CODE`` whose code ``module_name`` runs (itself included)."""
    seen: set[str] = set()
    pending = [module_name]
    while pending:
        name = pending.pop()
        if name in seen or name == __name__:
            continue
        seen.add(name)
        for value in vars(sys.modules[name]).values():
            used = value.__name__ if isinstance(value, ModuleType) else getattr(
                value, "__module__", None)
            if isinstance(used, str) and used.startswith(_TEXT_CODE) and used in sys.modules:
                pending.append(used)
    return seen


def format_of(suffix: str) -> str:
    """The module that reads files with this suffix, e.g. "index.formats.word"."""
    return EXTRACTORS[suffix].__module__
