"""How HTML documentation pages (Node.js's API docs) are read: navigation, headings, titles.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/html_docs.py PAGES_DIR

PAGES_DIR holds the pages of the Node.js API documentation as the project publishes them
(``cli.html``, ``path.html``...: a sidebar ``<div id="column2">`` of every page, a table of
contents ``<details id="toc">``, version notes under each heading). Each page is read as the
index reads it (``html.extract``, then ``split_passages`` with the default model's tokenizer
and limit, the heading trail as the embedding's prefix) and counted:

- nav first: pages whose first passage holds navigation: three consecutive link labels of
  the page's sidebar or table of contents, or "Table of contents";
- nav any: pages with any such passage (a few are lists of the article that repeat the table
  of contents: cli.html's list of the options NODE_OPTIONS allows, net.html's signatures);
- 3+ headings, 2+ headings: passages holding that many heading blocks (a chain);
- heading alone: passages that are one heading and nothing else;
- median tokens: the median passage's length in the model's word pieces;
- titles: the document's title is the <title> without " | Node.js ... Documentation" (and
  without its Markdown backticks).
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
from pathlib import Path

from index.chunking import split_passages
from index.embedding import find_model
from index.formats.html import extract
from index.titles import tidy_title

_MAX_TOKENS = 256  # all-MiniLM-L6-v2's limit, as the build uses it
_NAVIGATION = (r'<details id="toc".*?</details>', r'<div id="column2".*?<div id="column1"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", type=Path)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(find_model("all-MiniLM-L6-v2").path))

    def count(text: str) -> int:
        return len(tokenizer(text, truncation=False)["input_ids"])

    def prefix(section: tuple[str, ...]) -> str:
        return f"{' › '.join(section)}: " if section else ""

    pages = sorted(args.pages.glob("*.html"))
    sizes: list[int] = []
    totals = dict.fromkeys(("nav first", "nav any", "passages", "3+ headings", "2+ headings",
                            "heading alone", "titles right"), 0)
    for path in pages:
        data = path.read_bytes()
        extracted = extract(data, 10**9)
        structure = extracted.structure
        passages = split_passages(extracted.text, count, _MAX_TOKENS, 1, 5, structure, prefix)
        windows = _navigation_windows(data.decode())

        def is_navigation(text: str, windows: list[str] = windows) -> bool:
            return "Table of contents" in text or any(w in text for w in windows)

        headings = [b for b in structure.blocks if b.kind == "heading"]
        chained = [sum(p.start <= h.start < p.end for h in headings) for p in passages]
        stated = re.search(rb"<title>(.*?)</title>", data)
        expected = html.unescape(stated.group(1).decode()).split(" | ")[0] if stated else ""
        totals["nav first"] += bool(passages) and is_navigation(passages[0].text)
        totals["nav any"] += any(is_navigation(p.text) for p in passages)
        totals["passages"] += len(passages)
        sizes += [count(p.text) for p in passages]
        totals["3+ headings"] += sum(n >= 3 for n in chained)
        totals["2+ headings"] += sum(n >= 2 for n in chained)
        totals["heading alone"] += sum(any((h.start, h.end) == (p.start, p.end) for h in headings)
                                       for p in passages)
        totals["titles right"] += tidy_title(extracted.title) == expected.replace("`", "")
    print(f"{len(pages)} pages: " + ", ".join(f"{k} {v}" for k, v in totals.items())
          + f", median tokens {statistics.median(sizes):.0f}")


def _navigation_windows(page: str) -> list[str]:
    """Every three consecutive link labels of the page's sidebar and table of contents."""
    windows = []
    for pattern in _NAVIGATION:
        for block in re.findall(pattern, page, re.S):
            labels = [" ".join(html.unescape(re.sub("<[^>]+>", "", label)).split())
                      for label in re.findall(r"<a [^>]*>(.*?)</a>", block, re.S)]
            labels = [label for label in labels if label]
            windows += [" ".join(labels[i : i + 3]) for i in range(len(labels) - 2)]
    return windows


if __name__ == "__main__":
    main()
