"""How many PDF titles are right, before (metadata /Title, else the first line) and after
(the title extract gives: index.formats.pdf_title's), against the titles the files' names
spell.

The papers' names are a topic folder and the title in slug form
("languages_haskell_a-poor-mans-concurrency-monad.pdf"); a title is counted right when it
holds at least 0.8 of the slug's words and is not longer than 25 words (a whole abstract
taken for a title is wrong). Before, the first line is that of the first page as pypdf
read it; after, extract reads the first page as it reads any (OCR for a scan or garbage).
Names that abbreviate or reword their title ("therac.pdf", "real-time-chord-detection.pdf"
for "Real-Time Chord Recognition...") make misses that are not: --misses lists each.

    .venv/bin/python benchmarks/pdf_titles.py /work/data/papers [--misses]
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.formats import EXTRACTORS  # noqa: E402
from index.formats.decoding import collapse  # noqa: E402
from index.formats.extraction import UnreadableDocumentError  # noqa: E402
from index.formats.plain_text import first_line  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--misses", action="store_true", help="list the titles counted wrong")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    files = sorted(args.folder.glob("*.pdf"))
    right = {"before": 0, "after": 0}
    for path in files:
        before, after = titles(path.read_bytes())
        slug = slug_words(path.stem)
        for name, title in (("before", before), ("after", after)):
            ok = matches(title, slug)
            right[name] += ok
            if args.misses and not ok and name == "after":
                print(f"{path.name}\n    before: {before!r}\n    after:  {after!r}")
    for name, count in right.items():
        print(f"{name}: {count}/{len(files)} right ({count / len(files):.0%})")


def titles(data: bytes) -> tuple[str | None, str | None]:
    """The title as extract took it before (metadata, else the first page's first line), and
    as it takes it now (extract itself, reading as little as it can: the first page)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    meta = str(reader.metadata.title) if reader.metadata and reader.metadata.title else None
    page = reader.pages[0].extract_text() if reader.pages else ""
    before = meta if meta and collapse(meta) else first_line(page)
    try:
        return before, EXTRACTORS[".pdf"](data, 1).title
    except UnreadableDocumentError:
        return before, None


# Words; the longest right title here has 20.
_LONGEST_TITLE = 25


def slug_words(stem: str) -> list[list[str]]:
    """The words the title may have in a file's name: each tail of its underscore-separated
    parts, as the topic folder's part is not marked off ("data_compression_x-y", but also
    "computer_graphics_imaging_vector_fields_using_line_integral_convolution")."""
    parts = stem.split("_")
    return [_words(" ".join(parts[start:])) for start in range(len(parts))]


def matches(title: str | None, slugs: list[list[str]]) -> bool:
    """Whether some tail of the name has 0.8 of its words in the title, and the title is
    not a paragraph (the authors' line or an abstract joined to it)."""
    if not title:
        return False
    words = set(_words(title))
    for slug in slugs:
        common = words & set(slug)
        if slug and len(common) >= 0.8 * len(set(slug)) and len(words) <= _LONGEST_TITLE:
            return True
    return False


def _words(text: str) -> list[str]:
    text = text.casefold().replace("'", "").replace("’", "")
    return re.findall(r"[^\W_]+", text)


if __name__ == "__main__":
    main()
