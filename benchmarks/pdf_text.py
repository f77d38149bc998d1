"""How readable a PDF's extracted text is, and how fast: pypdf's plain and layout modes and
pypdfium2 as raw page text, then the reader before this change (pypdf, page by page) and the
current one (pypdfium2 and index/formats/pdf_layout.py) as the documents they make.

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/pdf_text.py \
        [--papers /work/data/papers] [--count 40] [--before REV]

Papers: the first ``--count`` of the folder's PDFs by name. Per reader: seconds per page
(reading all pages, one run, this process; the documents' include one scanned page's OCR,
about 6 s), lowercase starts (the share of lines, paragraphs or passages that start with a
lowercase letter: cut mid-sentence), ligature losses (the papers' words written with "fi",
"ff", "fl", "ffi" or "ffl" left out: "signicant", "rst"; the words are those the last
reader, which keeps ligatures, writes twice or more), hyphen splits (a word cut by "-" at a
line end or "- " in a line whose halves make a word of the vocabulary, the words of every
reader's text: "con- venient") and ligature characters left (U+FB00-FB06, in which a search
for "first" does not find "ﬁrst"). Passages are made by index.chunking with 256 "tokens"
counted as 1.3 per word (no model loaded).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORD = re.compile(r"[A-Za-z]+")
SPLIT = re.compile(r"([A-Za-z]+)-(?:\n| )([a-z]+)")
LIGATURES = ("fi", "ff", "fl", "ffi", "ffl")
LIGATURE_CHARACTERS = re.compile("[\ufb00-\ufb06]")


def raw_readers() -> dict[str, Callable[[bytes], list[str]]]:
    def pypdf_plain(data: bytes) -> list[str]:
        from pypdf import PdfReader

        return [page.extract_text() for page in PdfReader(__import__("io").BytesIO(data)).pages]

    def pypdf_layout(data: bytes) -> list[str]:
        from pypdf import PdfReader

        return [page.extract_text(extraction_mode="layout")
                for page in PdfReader(__import__("io").BytesIO(data)).pages]

    def pdfium(data: bytes) -> list[str]:
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        return [page.get_textpage().get_text_bounded() for page in document]

    return {"pypdf plain": pypdf_plain, "pypdf layout": pypdf_layout, "pypdfium2": pdfium}


def document_readers(before: str) -> dict[str, Callable[[bytes], str]]:
    """The extractor at ``before`` (its pdf.py loaded from git) and the current one."""
    from index.formats import pdf
    from index.formats.extraction import UnreadableDocumentError

    source = subprocess.run(["git", "-C", str(REPO), "show", f"{before}:index/formats/pdf.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "pdf_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pdf_before", path)
    assert spec and spec.loader
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    def reader(extract: Callable[[bytes, int], Any]) -> Callable[[bytes], str]:
        def read(data: bytes) -> str:
            try:
                return str(extract(data, 10**9).text)
            except UnreadableDocumentError as exc:
                print(f"unreadable: {exc}", file=sys.stderr)
                return ""
        return read

    return {"before (pypdf)": reader(old.extract),
            "after (pypdfium2 + layout)": reader(pdf.extract)}


def lost_forms(reference: Counter[str]) -> set[str]:
    """Words of ``reference`` with "fi", "ff", "fl", "ffi" or "ffl" in them, as a reader that
    drops the ligature writes them ("signicant", "rst"), where that is no word of its own."""
    forms = set()
    for word, count in reference.items():
        for ligature in LIGATURES:
            if count >= 2 and ligature in word:
                forms.add(word.replace(ligature, ""))
    return {form for form in forms if len(form) > 1 and form not in reference}


def hyphen_splits(text: str, vocabulary: set[str]) -> int:
    return sum(1 for a, b in SPLIT.findall(text) if (a + b).lower() in vocabulary)


def lowercase_share(pieces: list[str]) -> float:
    starts = [p.strip()[0] for p in pieces if p.strip() and p.strip()[0].isalpha()]
    return sum(c.islower() for c in starts) / max(len(starts), 1)


def passages(text: str) -> list[str]:
    from index.chunking import split_passages

    return [p.text for p in split_passages(text, lambda t: int(len(t.split()) * 1.3) + 2, 256)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=Path, default=Path("/work/data/papers"))
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--before", default="b58a662")
    args = parser.parse_args()
    papers = [p.read_bytes() for p in sorted(args.papers.glob("*.pdf"))[: args.count]]

    raw: dict[str, tuple[float, list[str]]] = {}
    for name, read in raw_readers().items():
        started = time.perf_counter()
        page_texts = [text for data in papers for text in read(data)]
        raw[name] = (time.perf_counter() - started, page_texts)
        print(f"{name}: {raw[name][0]:.1f} s", file=sys.stderr)
    documents: dict[str, tuple[float, list[str]]] = {}
    for name, extract in document_readers(args.before).items():
        started = time.perf_counter()
        texts = [extract(data) for data in papers]
        documents[name] = (time.perf_counter() - started, texts)
    pages = len(raw["pypdfium2"][1])
    every = [t for _, texts in [*raw.values(), *documents.values()] for t in texts]
    counts = Counter(w.lower() for t in every for w in WORD.findall(t))
    # A word of the vocabulary is one that some reader wrote at least twice.
    vocabulary = {w for w, c in counts.items() if c >= 2}

    last = list(documents.values())[-1][1]
    lost = lost_forms(Counter(w.lower() for t in last for w in WORD.findall(t)))
    print(f"{len(papers)} papers, {pages} pages\n")
    print("| reader | s/page | lowercase starts (lines / paragraphs / passages) "
          "| ligature losses | hyphen splits | U+FB0x left |")
    print("|---|---|---|---|---|---|")
    for name, (seconds, texts) in {**raw, **documents}.items():
        text = "\n".join(texts)
        words = Counter(w.lower() for w in WORD.findall(text))
        lines = lowercase_share(text.splitlines())
        if name in documents:
            paragraphs = [p for t in texts for p in re.split(r"\n\s*\n", t)]
            chunks = [p for t in texts for p in passages(t)]
            shares = (f"{lines:.1%} / {lowercase_share(paragraphs):.1%} / "
                      f"{lowercase_share(chunks):.1%}")
        else:
            shares = f"{lines:.1%} / – / –"
        print(f"| {name} | {seconds / pages:.4f} | {shares} | "
              f"{sum(words[form] for form in lost)} | {hyphen_splits(text, vocabulary)} | "
              f"{len(LIGATURE_CHARACTERS.findall(text))} |")


if __name__ == "__main__":
    main()
