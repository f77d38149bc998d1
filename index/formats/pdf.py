"""PDF (.pdf): each page's text as paragraphs, page by page up to the character limit, each
passage knowing its page numbers; the title as ``pdf_title`` finds it (metadata, or the
first page's largest text).

pypdfium2 (PDFium, Chrome's PDF engine) reads the text, line by line with positions, which
index/formats/pdf_layout.py makes into paragraphs. On 40 papers it read the text ten times
faster than pypdf (five times with the layout) and kept ligatures and hyphenation marks that
pypdf lost (docs/quality.md, "PDF text"). pypdf still checks the file (encryption, pages that
share one content stream) and reads the metadata.

A page without a text layer (a scan), or whose text is not language (``language_check``: a
broken font encoding), is rendered and read by OCR when Tesseract is installed (its text is
marked as OCR's); otherwise, or if OCR fails on it, it is left out and the document says so.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from index.formats import ocr
from index.formats.decoding import clean
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.language_check import is_language
from index.formats.pdf_layout import Line, lines_of, paragraphs
from index.formats.pdf_title import pdf_title
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder

# pypdf and pypdfium2 are imported where first needed: most folders hold no PDF, and start-up
# is most of what an incremental rebuild waits for.
if TYPE_CHECKING:
    from PIL.Image import Image
    from pypdf import PdfReader
    from pypdfium2 import PdfDocument, PdfPage

# PDFium is not thread-safe: one document is read at a time in the process.
_PDFIUM = threading.Lock()
# Scans are rendered for OCR at their own resolution within this range (dots an inch;
# Tesseract reads best at 300), and within a pixel budget: a page's size is whatever the
# file says, and a 200-inch page must not make a 3 GB image.
OCR_DPI_RANGE = (150, 300)
MAX_RENDER_PIXELS = 12_000_000
# The OCR one document may take. A file may take 60 s to be read (max_document_seconds) and
# Tesseract takes 1 to 5 s a page here: past this, a long scan's other pages are left out
# and said, so that it is indexed in part rather than skipped whole for time.
OCR_SECONDS = 40.0
# PDFium marks a hyphen that splits a word at a line end as U+0002 (U+FFFE in some files):
# made soft hyphens, which the layout knows, before the control character is cleaned away.
_SOFT_HYPHENS = str.maketrans({"\x02": "\xad", "\ufffe": "\xad"})
_HYPHEN_MARKS = frozenset(map(ord, "\x02\ufffe\xad"))
_NEWLINE, _SPACE = ord("\n"), ord(" ")


def extract(data: bytes, max_chars: int) -> Extracted:
    import pypdfium2
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        with _pypdf_silenced():
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("encrypted, needs a password")
            drawn_once = _pages_drawn_once(reader)
            metadata = reader.metadata
            meta_title = str(metadata.title) if metadata and metadata.title else None
        with _PDFIUM:
            document = pypdfium2.PdfDocument(data)
            try:
                built, partial, unread = _read(document, drawn_once, max_chars)
                title = pdf_title(document, meta_title)
            finally:
                document.close()
    except Exception as exc:  # pypdf and pypdfium2 raise many exception types for malformed files
        raise UnreadableDocumentError(f"broken PDF: {short_message(exc)}") from exc
    text = built.text
    if not text:
        raise UnreadableDocumentError("; ".join(unread) or "no text in PDF")
    title = title or first_line(text)
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


def _pages_drawn_once(reader: PdfReader) -> list[int]:
    """The indexes of the pages to read: a page whose content streams another page already
    drew is not read again, since pages sharing one large compressed stream are how a 4.7 KB
    file expands to a million characters."""
    drawn: set[tuple[int, ...]] = set()
    pages = []
    for index, page in enumerate(reader.pages):
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        references = contents if isinstance(contents, list) else [contents]
        key = tuple(getattr(r, "idnum", -1) for r in references)
        if -1 not in key:
            if key in drawn:
                continue
            drawn.add(key)
        pages.append(index)
    return pages


def _read(
    document: PdfDocument, indexes: list[int], max_chars: int
) -> tuple[TextBuilder, bool, list[str]]:
    """The text of the pages at ``indexes``, until there is more than ``max_chars`` of it;
    whether it stopped; and what was left unread of the pages with pictures but no text, or
    with text that is not language."""
    # pypdf and PDFium may count a broken file's pages apart.
    indexes = [index for index in indexes if index < len(document)]
    read: list[tuple[int, list[Line] | str]] = []  # (number, lines, or a scan's OCR text)
    left_out = _LeftOut()
    can_ocr = ocr.available()
    size, target = 0, max_chars
    for position, index in enumerate(indexes):
        page = document[index]
        try:
            text = _page_text(page, index + 1, can_ocr, left_out)
        finally:
            page.close()
        if text is None:
            continue
        read.append((index + 1, text))
        size += len(text) if isinstance(text, str) else sum(len(ln.text) + 1 for ln in text)
        if size > target and position < len(indexes) - 1:
            built = _built(read)
            if len(built) > max_chars:
                return built, True, left_out.notes()
            # Running headers and page numbers left out: read on until the text is over.
            target = size + max_chars - len(built) + 1
    return _built(read), False, left_out.notes()


@dataclass
class _LeftOut:
    """The pages left unread so far, by why."""

    no_ocr: list[int] = field(default_factory=list)  # scans, for want of Tesseract
    over_time: list[int] = field(default_factory=list)  # to OCR, once OCR_SECONDS were spent
    ocr_seconds: float = 0.0  # spent so far
    failed: list[tuple[int, str]] = field(default_factory=list)  # (page, why) OCR failed
    garbled: list[int] = field(default_factory=list)  # garbage text, for want of Tesseract

    def notes(self) -> list[str]:
        """What the document's note says of the pages not read."""
        notes = []
        if self.garbled:
            notes.append(f"text is not readable (broken font encoding) on {len(self.garbled)} "
                         f"page{'s' if len(self.garbled) > 1 else ''} "
                         f"({_page_list(self.garbled)}): {ocr.INSTALL_HINT}")
        if self.no_ocr:
            notes.append(f"{len(self.no_ocr)} page{'s' if len(self.no_ocr) > 1 else ''} "
                         f"without a text layer not read ({_page_list(self.no_ocr)}): "
                         f"{ocr.INSTALL_HINT}")
        if self.over_time:
            notes.append(f"{len(self.over_time)} page{'s' if len(self.over_time) > 1 else ''} "
                         f"not read by OCR ({_page_list(self.over_time)}): OCR stops after "
                         f"{OCR_SECONDS:g} s a document")
        if self.failed:
            numbers = [number for number, _ in self.failed]
            notes.append(f"OCR failed on {_page_list(numbers)} ({self.failed[0][1]})")
        return notes


def _page_text(
    page: PdfPage, number: int, can_ocr: bool, left_out: _LeftOut
) -> list[Line] | str | None:
    """The page's lines; or its text read by OCR, if it is a scan or its text layer is not
    language (a broken font encoding); or None, with the page noted in ``left_out``."""
    lines = _lines(page)
    if lines and is_language("\n".join(line.text for line in lines)):
        return lines
    if lines:  # what the page shows is read from its picture
        resolution, skipped = float(OCR_DPI_RANGE[1]), left_out.garbled
    else:
        scan = _scan_resolution(page)
        if scan is None:
            return None
        resolution, skipped = scan, left_out.no_ocr
    if not can_ocr:
        skipped.append(number)
        return None
    if left_out.ocr_seconds >= OCR_SECONDS:
        left_out.over_time.append(number)
        return None
    started = time.monotonic()
    try:
        return clean(ocr.read_image(_rendered(page, resolution)))
    except OSError as exc:  # one bad page does not cost the document
        left_out.failed.append((number, str(exc)))
        return None
    finally:
        left_out.ocr_seconds += time.monotonic() - started


def _lines(page: PdfPage) -> list[Line]:
    """The page's text lines with their positions, in PDFium's reading order (a two-column
    page's left column first).

    Read a character at a time: PDFium's text of a page drops characters (a line break after
    a hyphen) that its character positions count, and its text of a rectangle scans the whole
    page each time (80 µs a line).
    """
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        unicode_of = pdfium_c.FPDFText_GetUnicode
        codes = [unicode_of(textpage.raw, i) for i in range(textpage.count_chars())]
        pieces = []
        start = 0
        # A line ends at a line break, and after a hyphen mark: PDFium leaves out the line
        # break after one, and the layout joins back what it split on one line.
        ends = [i + (code != _NEWLINE) for i, code in enumerate(codes)
                if code == _NEWLINE or code in _HYPHEN_MARKS]
        for end in [*ends, len(codes)]:
            shown = [i for i in range(start, end) if codes[i] > _SPACE]
            if shown:
                text = "".join(chr(code) for code in codes[start:end] if code)
                left, bottom, _, top = textpage.get_charbox(shown[0], loose=True)
                _, last_bottom, right, last_top = textpage.get_charbox(shown[-1], loose=True)
                pieces.append(Line(clean(text.translate(_SOFT_HYPHENS)), left,
                                   min(bottom, last_bottom), right, max(top, last_top)))
            start = end + (codes[end] == _NEWLINE if end < len(codes) else 0)
    finally:
        textpage.close()
    return lines_of(pieces)


def _scan_resolution(page: PdfPage) -> float | None:
    """The resolution (pixels an inch on the page) of the page's finest picture big enough to
    be a scan; None if it has none."""
    import pypdfium2.raw as pdfium_c

    resolutions = []
    for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        width, height = image.get_px_size()
        if width * height >= ocr.MIN_PIXELS:
            left, _, right, _ = image.get_bounds()
            resolutions.append(72 * width / max(right - left, 1.0))
    return max(resolutions, default=None)


def _rendered(page: PdfPage, resolution: float) -> Image:
    """The page as a picture at its scan's resolution, within OCR_DPI_RANGE: more pixels than
    the scan has cost Tesseract time (4 times the pixels, 4 times the time) and read no better."""
    low, high = OCR_DPI_RANGE
    width, height = page.get_size()
    scale = min(min(max(resolution, low), high) / 72,
                math.sqrt(MAX_RENDER_PIXELS / max(width * height, 1.0)))
    image: Image = page.render(scale=scale, grayscale=True).to_pil()
    return image


def _built(read: list[tuple[int, list[Line] | str]]) -> TextBuilder:
    """The pages' text: paragraphs of the text layers, and the scans' OCR text as read.

    A page's paragraphs are separated by line breaks, not blank lines, so that chunking packs
    them into passages up to the token limit (cutting only between them): one passage per
    paragraph made 22,359 short passages of 97 papers where packing makes ~10,000, and
    questions' answers fell from the top 5 among their own paper's many neighbours.
    """
    laid_out = iter(paragraphs([page for _, page in read if not isinstance(page, str)]))
    built = TextBuilder()
    for number, page in read:
        built.page(number)
        if isinstance(page, str):
            built.add(page, ocr=True)
            continue
        text = next(laid_out)
        for i, paragraph in enumerate(text.paragraphs):
            if i == 0 and text.joint is not None:
                built.extend(paragraph, text.joint)
            elif i == 0:
                built.add(paragraph)
            else:
                built.extend(paragraph, "\n")
    return built


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return f"p. {shown}{', ...' if len(numbers) > 5 else ''}"
