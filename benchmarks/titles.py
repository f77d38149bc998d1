"""How many documents get their right title, on a folder of saved web pages with known titles.

    .venv/bin/python benchmarks/titles.py PAGES_DIR EXPECTED.json [--as-text] [--show-wrong]

EXPECTED.json maps a file name in PAGES_DIR to its true title (for example the titles in
mozilla/readability's test/test-pages/*/expected-metadata.json, with each source.html
saved as NAME.html). Each page is loaded as the index loads it (``load_document``: its
format's title, tidied, the file name as the last resort) and compared with its title.

"Right" means equal once both are Unicode NFKC-normalised, case-folded, with curly quotes
and dashes made plain and runs of whitespace made one space.

``--as-text`` measures the plain-text rule instead: each .html page is first turned into the
text a reader gets by saving the page as text (its <title> as the first line, then every
visible line: menus, notices and comments included), written as NAME.txt in a temporary folder.

To measure the code before a change, run this file with PYTHONPATH set to a checkout of the
older commit: it uses only ``index.documents.load_document``, which both have.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import unicodedata
from pathlib import Path

# `python benchmarks/titles.py` puts benchmarks/, not the repo, first; PYTHONPATH picks
# another checkout's index (the code before a change) instead.
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.documents import UnreadableDocumentError, load_document  # noqa: E402

_PLAIN = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def normalised(title: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", title).translate(_PLAIN).casefold().split())


def saved_as_text(html: bytes) -> str:
    """The page's <title>, then its visible text one line per block: a page saved as text,
    laid out as the sample corpus's files are (the title line, then the page)."""
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "html.parser")
    title = soup.find("title")
    first = [title.get_text()] if title else []
    for tag in soup.find_all(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    lines = (" ".join(line.split()) for line in [*first, *soup.get_text("\n").split("\n")])
    return "\n\n".join(line for line in lines if line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", type=Path)
    parser.add_argument("expected", type=Path)
    parser.add_argument("--as-text", action="store_true", help="measure the plain-text rule")
    parser.add_argument("--show-wrong", action="store_true", help="list the wrong titles")
    args = parser.parse_args()
    expected: dict[str, str] = json.loads(args.expected.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        root = args.pages
        if args.as_text:
            root = Path(scratch)
            for name in expected:
                text = saved_as_text((args.pages / name).read_bytes())
                (root / Path(name).with_suffix(".txt").name).write_text(text, encoding="utf-8")
            expected = {Path(name).with_suffix(".txt").name: t for name, t in expected.items()}
        right, wrong = 0, []
        for name, title in sorted(expected.items()):
            try:
                got = load_document(root / name, root).title
            except UnreadableDocumentError as exc:
                got = f"(skipped: {exc.reason})"
            if normalised(got) == normalised(title):
                right += 1
            else:
                wrong.append((name, title, got))
    if args.show_wrong:
        for name, title, got in wrong:
            print(f"{name}\n  expected: {title}\n  got:      {got}", file=sys.stderr)
    print(json.dumps({"pages": len(expected), "right": right,
                      "share": round(right / max(len(expected), 1), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
