"""Text from pictures of text: Tesseract (Debian's tesseract-ocr), run as a program.

Used for PDF pages that have no text layer (scans), or whose text layer is garbage (a broken
font encoding). Tesseract is optional: without it such pages are left out and the document
says how many, and how to read them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# The hint given when Tesseract is missing, in the rebuild's summary.
INSTALL_HINT = "install Tesseract (apt-get install tesseract-ocr) to read them"
# A page's recognition is bounded: a huge or hostile image must not hold the rebuild.
PAGE_SECONDS = 60
# Pictures smaller than this are logos and rules, not pages of text.
MIN_PIXELS = 200 * 200
# A PDF page drawn for OCR: Tesseract reads 300 dpi best.
RENDER_DPI = 300


def available() -> bool:
    return shutil.which("tesseract") is not None


def render_pdf_page(data: bytes, index: int) -> Image:
    """Page ``index`` (from 0) of the PDF in ``data``, drawn at RENDER_DPI.

    Raises:
        OSError: pypdfium2 cannot open the file or draw the page.
    """
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
        try:
            image: Image = document[index].render(scale=RENDER_DPI / 72).to_pil()
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        raise OSError(f"could not draw the page: {exc}") from exc
    return image


def read_image(image: Image) -> str:
    """The text Tesseract reads in ``image`` (English), "" if it reads none.

    Raises:
        OSError: Tesseract failed, or took longer than PAGE_SECONDS.
    """
    png = io.BytesIO()
    image.convert("L").save(png, "PNG")
    try:
        # One thread: Debian's Tesseract on OpenMP took 7.0 s for an A4 page on 2 cores and
        # 0.63 s on one (docs/benchmarks.md, "OCR").
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", "eng"], input=png.getvalue(),
                              capture_output=True, timeout=PAGE_SECONDS, check=False,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"OCR took longer than {PAGE_SECONDS} s on a page") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise OSError(f"OCR failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode(errors="replace")
