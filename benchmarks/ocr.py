"""OCR of scanned PDF pages: pages per second and word accuracy on pages of known text.

    .venv/bin/python benchmarks/ocr.py --pages 20

Each page is a picture (150 dpi, A4 width, 12 pt-like sans-serif) of a paragraph run from the
sample corpus, saved as an image-only PDF as a scanner would; the PDF format reads it back
through Tesseract. Word accuracy: the share of the page's words that OCR gives back, in order
(difflib's matching blocks over the lower-cased words, punctuation stripped).
"""

from __future__ import annotations

import difflib
import io
import sys
import textwrap
import time
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.formats import EXTRACTORS  # noqa: E402
from index.formats.ocr import available  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
WIDTH, HEIGHT, MARGIN, LINE = 1240, 1754, 100, 40  # A4 at 150 dpi


def page_texts(count: int) -> list[str]:
    """Runs of the sample corpus's paragraphs, about 250 words a page."""
    words = " ".join(p.read_text() for p in sorted(CORPUS.glob("*.txt"))).split()
    return [" ".join(words[i * 250 : (i + 1) * 250]) for i in range(count)]


def scanned_pdf(text: str) -> bytes:
    image = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=26)
    for number, line in enumerate(textwrap.wrap(text, 80)):
        draw.text((MARGIN, MARGIN + number * LINE), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=150)
    return out.getvalue()


def plain_words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()[]“”’").lower() for w in text.split() if w.strip(".,;:!?")]


@click.command()
@click.option("--pages", default=20, show_default=True, help="Pages to render and read.")
def main(pages: int) -> None:
    if not available():
        raise click.ClickException("tesseract is not installed (make setup installs it)")
    texts = page_texts(pages)
    pdfs = [scanned_pdf(t) for t in texts]
    started = time.perf_counter()
    read = [EXTRACTORS[".pdf"](pdf, 10**7).text for pdf in pdfs]
    seconds = time.perf_counter() - started
    expected_total = matched_total = 0
    for expected, got in zip(texts, read, strict=True):
        want, have = plain_words(expected), plain_words(got)
        matcher = difflib.SequenceMatcher(a=want, b=have, autojunk=False)
        matched_total += sum(block.size for block in matcher.get_matching_blocks())
        expected_total += len(want)
    print(f"{pages} pages in {seconds:.1f} s: {pages / seconds:.2f} pages/s, "
          f"{seconds / pages * 1000:.0f} ms a page; word accuracy "
          f"{matched_total / expected_total:.3f} ({matched_total} of {expected_total} words)")


if __name__ == "__main__":
    main()
