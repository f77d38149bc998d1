"""PDF (.pdf): each page's text, page by page up to the character limit, each passage knowing
its page numbers; the title as ``pdf_title`` finds it (metadata, or the largest text).

A page without a text layer (a scan) is read by OCR when Tesseract is installed (its text is
marked as OCR's); otherwise, or if OCR fails on it, it is left out and the document says so.
So is a page whose text is not language (``language_check``: a broken font encoding).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from index.formats import ocr
from index.formats.decoding import clean
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.language_check import is_language
from index.formats.pdf_title import pdf_title
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder

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
            built, partial, unread = _pages(reader, data, max_chars)
            metadata = reader.metadata
            meta_title = str(metadata.title) if metadata and metadata.title else None
    except Exception as exc:  # pypdf raises many exception types for malformed files
        raise UnreadableDocumentError(f"broken PDF: {short_message(exc)}") from exc
    text = built.text
    if not text:
        raise UnreadableDocumentError("; ".join(unread) or "no text in PDF")
    title = pdf_title(data, meta_title) or first_line(text)
    return Extracted(text, title, partial, missing="; ".join(unread) or None,
                     structure=built.structure)


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


def _pages(reader: PdfReader, data: bytes,
           max_chars: int) -> tuple[TextBuilder, bool, list[str]]:
    """The text page by page, until there is more than ``max_chars`` of it; whether it
    stopped; and what was left unread of the pages with pictures but no text, or with text
    that is not language.

    A page whose content streams another page already drew is not extracted again: pages
    sharing one large compressed stream are how a 4.7 KB file expands to a million characters.
    """
    built = TextBuilder()
    no_ocr: list[int] = []  # pages with scans left unread, for want of Tesseract
    failed: list[tuple[int, str]] = []  # pages whose OCR failed, and why
    garbled: list[int] = []  # pages of garbage text left unread, for want of Tesseract
    can_ocr = ocr.available()
    drawn: set[tuple[int, ...]] = set()
    for number, page in enumerate(reader.pages, 1):
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        references = contents if isinstance(contents, list) else [contents]
        key = tuple(getattr(r, "idnum", -1) for r in references)
        if -1 not in key:
            if key in drawn:
                continue
            drawn.add(key)
        built.page(number)
        text = page.extract_text()
        if text.strip() and not is_language(text):
            # A broken font encoding: what the page shows is read from its picture.
            if not can_ocr:
                garbled.append(number)
                continue
            try:
                built.add(clean(ocr.read_image(ocr.render_pdf_page(data, number - 1))), ocr=True)
            except OSError as exc:
                failed.append((number, str(exc)))
        elif text.strip():
            built.add(clean(text))
        elif scans := [image.image for image in page.images
                       if image.image is not None
                       and image.image.width * image.image.height >= ocr.MIN_PIXELS]:
            if not can_ocr:
                no_ocr.append(number)
                continue
            try:
                for scan in scans:
                    built.add(clean(ocr.read_image(scan)), ocr=True)
            except OSError as exc:  # one bad page does not cost the document
                failed.append((number, str(exc)))
        if len(built) > max_chars:
            return built, True, _unread(no_ocr, failed, garbled)
    return built, False, _unread(no_ocr, failed, garbled)


def _unread(no_ocr: list[int], failed: list[tuple[int, str]], garbled: list[int]) -> list[str]:
    """What the document's note says of scanned pages, and pages of garbage text, not read."""
    notes = []
    if garbled:
        notes.append(f"text is not readable (broken font encoding) on {len(garbled)} "
                     f"page{'s' if len(garbled) > 1 else ''} ({_page_list(garbled)}): "
                     f"{ocr.INSTALL_HINT}")
    if no_ocr:
        notes.append(f"{len(no_ocr)} page{'s' if len(no_ocr) > 1 else ''} without a text layer "
                     f"not read ({_page_list(no_ocr)}): {ocr.INSTALL_HINT}")
    if failed:
        numbers = [number for number, _ in failed]
        notes.append(f"OCR failed on {_page_list(numbers)} ({failed[0][1]})")
    return notes


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return f"p. {shown}{', ...' if len(numbers) > 5 else ''}"
