"""The file formats a docs folder may hold: which extractor reads a file, by its suffix.

A format is one module with an ``extract(data, max_chars) -> Extracted`` function (see
``index.formats.extraction``); adding one is adding its module and its suffixes below.
Each imports its parsing library (bs4, pypdf, python-docx, python-pptx, odfpy, docutils,
striprtf) only when a file of its type is read; docs/formats.md says why each.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from index.formats import (
    email_message,
    epub,
    html,
    markdown,
    notebook,
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

__all__ = ["EXTRACTORS", "SUPPORTED_SUFFIXES", "Extracted", "Extractor", "UnreadableDocumentError"]
