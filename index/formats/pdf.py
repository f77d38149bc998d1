"""PDF (.pdf): each page's text, page by page up to the character limit; the title from metadata.

A page without a text layer (a scan) is read by OCR when Tesseract is installed; otherwise
it is left out and the document says so.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from index.formats import ocr
from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line

# pypdf is imported where first needed: most folders hold no PDF, and start-up is most of
# what an incremental rebuild waits for.
if TYPE_CHECKING:
    from pypdf import PdfReader


def extract(data: bytes, max_chars: int) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        with _pypdf_silenced():
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("encrypted, needs a password")
            pages, partial, unread = _pages(reader, max_chars)
            metadata = reader.metadata
            meta_title = str(metadata.title) if metadata and metadata.title else None
    except Exception as exc:  # pypdf raises many exception types for malformed files
        raise UnreadableDocumentError(f"broken PDF: {short_message(exc)}") from exc
    text = "\n\n".join(page for page in (clean(p).strip() for p in pages) if page)
    missing = (f"{unread} page{'s' if unread > 1 else ''} without a text layer not read: "
               f"{ocr.INSTALL_HINT}") if unread else None
    if not text:
        raise UnreadableDocumentError(missing or "no text in PDF")
    title = meta_title if meta_title and collapse(meta_title) else first_line(text)
    return Extracted(text, title, partial, missing=missing)


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


def _pages(reader: PdfReader, max_chars: int) -> tuple[list[str], bool, int]:
    """Each page's text, until there is more than ``max_chars`` of it; whether it stopped;
    and how many pages with pictures but no text were left unread, for want of Tesseract.

    A page whose content streams another page already drew is not extracted again: pages
    sharing one large compressed stream are how a 4.7 KB file expands to a million characters.
    """
    pages: list[str] = []
    total = 0
    unread = 0
    can_ocr = ocr.available()
    drawn: set[tuple[int, ...]] = set()
    for page in reader.pages:
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        references = contents if isinstance(contents, list) else [contents]
        key = tuple(getattr(r, "idnum", -1) for r in references)
        if -1 not in key:
            if key in drawn:
                continue
            drawn.add(key)
        text = page.extract_text()
        if not text.strip():
            scans = [image.image for image in page.images
                     if image.image is not None and image.image.width * image.image.height
                     >= ocr.MIN_PIXELS]
            if scans and not can_ocr:
                unread += 1
            elif scans:
                text = "\n\n".join(ocr.read_image(scan) for scan in scans)
        pages.append(text)
        total += len(pages[-1])
        if total > max_chars:
            return pages, True, unread
    return pages, False, unread
