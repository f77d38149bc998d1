"""How much of a web page's article each main-content extractor keeps, and how much else.

    .venv/bin/python benchmarks/main_content.py PAGES_DIR [--only NAME ...] [--min-bytes N]
        [--dump DIR] [--json FILE]

PAGES_DIR holds one folder per page with ``source.html`` (the page as saved) and
``expected.html`` (its article), as mozilla/readability's ``test/test-pages/*`` are laid out.
Note that there ``expected.html`` is what readability.js itself extracts: the reference
leans towards readability's choices (what counts as the article, whether a caption or a
byline is in it), so read small differences between extractors with that in mind.

Each extractor's output and the expected article are turned into words (case-folded ``\\w+``
runs, each CJK character a word) and compared as bags of words: recall is the share of the
expected article's words the output keeps, precision the share of the output's words that
are in the expected article, F1 their harmonic mean; each is the mean over pages. "empty"
counts pages where the extractor returned nothing (or no word), "lost" pages where it kept
under half the article (recall < 0.5). Each extractor runs in a child process of its own,
so its start-up (import) time and peak memory (the child's maximum resident set size, the
interpreter included) are its alone; ms/page is the mean wall time of one call.

``--dump DIR`` writes each extractor's text per page (DIR/EXTRACTOR/PAGE.txt) for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# `python benchmarks/main_content.py` puts benchmarks/, not the repo, first; PYTHONPATH
# picks another checkout's index instead.
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORDS = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")

Extractor = Callable[[bytes, str], "str | None"]


def words(text: str) -> list[str]:
    return _WORDS.findall(text.casefold())


def html_text(markup: str) -> str:
    """The text of an HTML fragment, blocks apart (as the expected article is read)."""
    import warnings

    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text(" ")


def _whole_page() -> Extractor:
    from index.formats.html import extract

    return lambda data, markup: extract(data, 10**7).text


def _trafilatura(**options: Any) -> Callable[[], Extractor]:
    def load() -> Extractor:
        import trafilatura

        def run(data: bytes, markup: str) -> str | None:
            return trafilatura.extract(  # type: ignore[no-any-return]
                markup, output_format="txt", include_comments=False, include_tables=True,
                **options,
            )

        return run

    return load


def _readability() -> Extractor:
    from readability import Document

    return lambda data, markup: html_text(Document(markup).summary(html_partial=True))


def _justext() -> Extractor:
    import justext

    # No language is known in advance: the union of all its stop lists, as trafilatura does.
    stoplist = frozenset().union(*(justext.get_stoplist(n) for n in justext.get_stoplists()))

    def run(data: bytes, markup: str) -> str | None:
        paragraphs = justext.justext(data, stoplist)
        return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    return run


def _resiliparse() -> Extractor:
    from resiliparse.extract.html2text import extract_plain_text

    return lambda data, markup: extract_plain_text(markup, main_content=True)


def _article(fallback: bool) -> Callable[[], Extractor]:
    def load() -> Extractor:
        from index.formats.html import extract
        from index.formats.main_content import article

        def run(data: bytes, markup: str) -> str | None:
            found = article(markup)
            if found is None:
                return extract(data, 10**7).text if fallback else None
            return html_text(found.html)

        return run

    return load


def _indexed() -> Extractor:
    """The article as the index takes it: the page's blocks that ``page_parts`` labels the
    article's (neither a comment's nor furniture), from ``html.extract``."""
    from index.formats.html import extract

    def run(data: bytes, markup: str) -> str | None:
        read = extract(data, 10**7)
        regions = read.structure.regions(read.text)
        return "\n".join(read.text[start:end] for start, end, _, part in regions if part is None)

    return run


EXTRACTORS: dict[str, Callable[[], Extractor]] = {
    "whole-page": _whole_page,
    "trafilatura": _trafilatura(),
    "trafilatura-recall": _trafilatura(favor_recall=True),
    "trafilatura-precision": _trafilatura(favor_precision=True),
    "trafilatura-fast": _trafilatura(fast=True),
    "readability-lxml": _readability,
    "justext": _justext,
    "resiliparse": _resiliparse,
    "article": _article(fallback=False),
    "article+fallback": _article(fallback=True),
    "indexed": _indexed,
}


def pages(root: Path, min_bytes: int) -> list[Path]:
    return sorted(
        p for p in root.iterdir()
        if (p / "source.html").is_file() and (p / "expected.html").is_file()
        and (p / "source.html").stat().st_size >= min_bytes
    )  # fmt: skip


def score(expected: list[str], got: list[str]) -> tuple[float, float, float]:
    common = sum((Counter(expected) & Counter(got)).values())
    recall = common / len(expected) if expected else 1.0
    precision = common / len(got) if got else 0.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return recall, precision, f1


def worker(name: str, root: Path, min_bytes: int, dump: Path | None) -> dict[str, Any]:
    """Runs in a child process: one extractor over every page."""
    from index.formats.decoding import decode

    started = time.perf_counter()
    extractor = EXTRACTORS[name]()
    import_ms = (time.perf_counter() - started) * 1000
    rows = []
    for page in pages(root, min_bytes):
        data = (page / "source.html").read_bytes()
        markup = decode(data, declared=None)
        expected = words(html_text((page / "expected.html").read_text(encoding="utf-8")))
        started = time.perf_counter()
        try:
            text = extractor(data, markup)
            error = None
        except Exception as exc:  # an extractor that fails on a page returned nothing
            text, error = None, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        got = words(text or "")
        recall, precision, f1 = score(expected, got)
        rows.append({"page": page.name, "recall": recall, "precision": precision, "f1": f1,
                     "words": len(got), "expected_words": len(expected), "ms": ms,
                     "error": error})
        if dump is not None:
            (dump / name).mkdir(parents=True, exist_ok=True)
            (dump / name / f"{page.name}.txt").write_text(text or "", encoding="utf-8")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"extractor": name, "import_ms": import_ms, "peak_mb": peak_mb, "pages": rows}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["pages"]
    n = max(len(rows), 1)
    return {
        "extractor": result["extractor"],
        "pages": len(rows),
        "recall": sum(r["recall"] for r in rows) / n,
        "precision": sum(r["precision"] for r in rows) / n,
        "f1": sum(r["f1"] for r in rows) / n,
        "empty": sum(1 for r in rows if r["words"] == 0),
        "lost": sum(1 for r in rows if r["recall"] < 0.5),
        "errors": sum(1 for r in rows if r["error"]),
        "ms_per_page": sum(r["ms"] for r in rows) / n,
        "max_ms": max((r["ms"] for r in rows), default=0.0),
        "import_ms": result["import_ms"],
        "peak_mb": result["peak_mb"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", type=Path)
    parser.add_argument("--only", nargs="+", choices=list(EXTRACTORS), help="these extractors")
    parser.add_argument("--min-bytes", type=int, default=0,
                        help="only pages whose source.html is at least this big")
    parser.add_argument("--dump", type=Path, help="write each extractor's text here")
    parser.add_argument("--json", type=Path, help="write every page's scores here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.pages, args.min_bytes, args.dump)))
        return 0
    results = []
    for name in args.only or list(EXTRACTORS):
        command = [sys.executable, __file__, str(args.pages), "--worker", name,
                   "--min-bytes", str(args.min_bytes)]
        if args.dump:
            command += ["--dump", str(args.dump)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| extractor | pages | recall | precision | F1 | empty | lost (recall < 0.5) "
          "| ms/page | max ms | import ms | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        s = summary(result)
        print(f"| {s['extractor']} | {s['pages']} | {s['recall']:.3f} | {s['precision']:.3f} "
              f"| {s['f1']:.3f} | {s['empty']} | {s['lost']} | {s['ms_per_page']:.1f} "
              f"| {s['max_ms']:.0f} | {s['import_ms']:.0f} | {s['peak_mb']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
