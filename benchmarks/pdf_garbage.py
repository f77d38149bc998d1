"""Which PDF pages index.formats.language_check refuses as not language (a broken font
encoding's garbage), page by page, as pypdf or pypdfium2 extracts them.

    .venv/bin/python benchmarks/pdf_garbage.py /work/data/papers [--pdfium] [--show]

Prints each file with a refused page (how many of its pages, which), then the totals;
--show prints the start of each refused page's text, to look at.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.formats.language_check import is_language  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pdfium", action="store_true", help="extract with pypdfium2")
    parser.add_argument("--show", action="store_true", help="print refused pages' text")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    files = sorted(args.folder.glob("*.pdf"))
    flagged_files = flagged_pages = all_pages = 0
    for path in files:
        try:
            pages = (pdfium_pages if args.pdfium else pypdf_pages)(path.read_bytes())
        except Exception as exc:  # a broken file is the reader's to refuse, not counted
            print(f"{path.name}: unreadable ({type(exc).__name__})")
            continue
        all_pages += len(pages)
        refused = [n for n, text in enumerate(pages, 1) if text.strip() and not is_language(text)]
        if refused:
            flagged_files += 1
            flagged_pages += len(refused)
            print(f"{path.name}: {len(refused)}/{len(pages)} pages {refused}")
            for number in refused if args.show else []:
                print(f"    p. {number}: {pages[number - 1][:150]!r}")
    print(f"{flagged_files} of {len(files)} files, {flagged_pages} of {all_pages} pages refused")


def pypdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def pdfium_pages(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return [document[i].get_textpage().get_text_bounded() for i in range(len(document))]
    finally:
        document.close()


if __name__ == "__main__":
    main()
