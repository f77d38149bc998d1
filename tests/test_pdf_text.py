"""PDF text that reads as paragraphs: real papers (tests/data/pdf) and the layout's rules on
lines made up here.

The papers: "End-to-End Arguments in System Design" (one column, a running header on every
page, ligatures that pypdf lost), "The Chubby lock service" (two columns, words hyphenated at
line ends and across pages) and "RAY: Integrating Rx and Async" (two columns, ligatures pypdf
read as control characters).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from index.chunking import split_passages
from index.formats.extraction import Extracted
from index.formats.pdf import extract
from index.formats.pdf_layout import Line, paragraphs

PAPERS = Path(__file__).resolve().parent / "data" / "pdf"
# What a reader that loses ligatures makes of "first", "field", "different", "significant"...
LOST_LIGATURES = re.compile(r"\b(rst|eld|nd|dierent|signicant|eect|ecient|simplied|dicult)\b")


def paper(name: str) -> Extracted:
    return extract((PAPERS / f"{name}.pdf").read_bytes(), 10_000_000)


@pytest.mark.parametrize(("name", "sentence", "pages"), [
    ("end-to-end-arguments", "Choosing the proper boundaries between functions is perhaps the "
     "primary activity of the computer system designer.", (1, 1)),
    ("end-to-end-arguments", "Unfortunately, systematic countering of threat two requires "
     "writing correct programs, which task is quite difficult,", (3, 3)),
    # Two words hyphenated at line ends: "un-expected", "fea-tures".
    ("chubby-lock-service", "We describe unexpected ways in which Chubby has been used, and "
     "features that proved to be mistakes.", (2, 2)),
    # A word hyphenated across two pages, in a paragraph that knows both.
    ("chubby-lock-service", "a client flushes the invalidated state and acknowledges by making "
     "its next KeepAlive call.", (6, 7)),
    ("ray-rx-async", "We outline the translation of “Reactive Async” programs to efficient state "
     "machines, in a way that generalizes the state machine translation of regular Async "
     "programs.", (1, 1)),
])
def test_a_sentence_comes_out_whole_on_its_pages(
    name: str, sentence: str, pages: tuple[int, int]
) -> None:
    extracted = paper(name)
    start = extracted.text.find(sentence)
    assert start >= 0, sentence
    assert extracted.structure.pages_of(start, start + len(sentence)) == pages


@pytest.mark.parametrize("name", ["end-to-end-arguments", "chubby-lock-service", "ray-rx-async"])
def test_no_ligature_is_lost(name: str) -> None:
    text = paper(name).text
    assert LOST_LIGATURES.findall(text) == []
    assert not re.search("[\ufb00-\ufb06]", text)
    assert "first" in text


def test_a_compound_keeps_its_hyphen_and_a_split_word_loses_it() -> None:
    text = paper("chubby-lock-service").text
    assert "coarse-grained locking" in text and "coarsegrained" not in text
    assert "con- " not in text and not re.search(r"[a-z]- [a-z]", text.replace(" - ", ""))


def test_the_running_header_and_page_numbers_are_left_out() -> None:
    text = paper("end-to-end-arguments").text
    assert "SALTZER" not in text  # "SALTZER ET AL. End-to-End Arguments in System Design 2"
    assert not re.search(r"^\d+$", text, re.M)


@pytest.mark.parametrize("name", ["end-to-end-arguments", "chubby-lock-service"])
def test_no_passage_starts_mid_word(name: str) -> None:
    extracted = paper(name)
    words = Counter(re.findall(r"\w+", extracted.text.lower()))
    passages = split_passages(extracted.text, lambda text: len(text.split()) * 4 // 3 + 2, 256,
                              structure=extracted.structure)
    assert len(passages) > 30  # a paper's worth, each cut between paragraphs
    lowercase = [p.text for p in passages if p.text[:1].islower()]
    # A figure's labels may start in lowercase; a word's tail ("cation") never does.
    assert len(lowercase) <= 2, lowercase
    for text in lowercase:
        assert words[re.findall(r"\w+", text)[0].lower()] > 1, text


def test_reading_stops_once_past_the_limit_and_says_so() -> None:
    data = (PAPERS / "end-to-end-arguments.pdf").read_bytes()
    whole, cut = extract(data, 10_000_000), extract(data, 20_000)
    assert not whole.partial and cut.partial
    # Past the limit after the running headers are left out, and the same text so far.
    assert 20_000 < len(cut.text) < len(whole.text)
    assert whole.text.startswith(cut.text.rsplit("\n\n", 1)[0])


# --- the layout's rules, on lines made up here (PDF points; y grows upwards) ---------------


def column(texts: list[str], top: float = 700, left: float = 72, width: float = 300,
           rights: dict[int, float] | None = None) -> list[Line]:
    """Lines 12 points apart, each as wide as the column unless ``rights`` says otherwise."""
    return [Line(text, left, top - 12 * i - 10, (rights or {}).get(i, left + width),
                 top - 12 * i) for i, text in enumerate(texts)]


def test_lines_become_paragraphs_at_a_short_line_ending_a_sentence() -> None:
    lines = column(["The ferry leaves the north pier at ten and is back at six",
                    "in the evening.",
                    "Tickets are sold on board, and a bicycle travels free of charge",
                    "on the deck."], rights={1: 150, 3: 130})
    [page] = paragraphs([lines])
    assert page.paragraphs == [
        "The ferry leaves the north pier at ten and is back at six in the evening.",
        "Tickets are sold on board, and a bicycle travels free of charge on the deck."]
    assert page.joint is None


def test_a_hyphenated_word_is_rejoined_unless_the_document_hyphenates_it() -> None:
    lines = column(["A con\xad", "venient well-", "known berth takes a long-",
                    "term lease and a TCP-", "IP link, a well-known one."], rights={4: 200})
    [page] = paragraphs([lines])
    assert page.paragraphs == [
        "A convenient well-known berth takes a longterm lease and a TCP-IP link, a well-known one."]


def test_running_headers_and_page_numbers_are_dropped() -> None:
    berths = ["north", "south", "east", "west"]
    pages = [column([f"Harbour Notes {n}", f"The {berth} berth takes boats up to twelve metres.",
                     f"Water and power on the {berth} pontoon are paid by the week.",
                     f"The {berth} gate is locked at night.", str(n)], rights={0: 150, 4: 80})
             for n, berth in enumerate(berths, 1)]
    assert [page.paragraphs for page in paragraphs(pages)] == [
        [" ".join(line.text for line in page[1:4])] for page in pages]
    # On two pages, a repeated line is text.
    assert paragraphs(pages[:2])[0].paragraphs[0] == "Harbour Notes 1"


def test_a_paragraph_running_on_to_the_next_page_says_how_it_joins() -> None:
    first = column(["The harbour master keeps a list of the berths that are free this week",
                    "and of"])
    second = column(["those taken by boats waiting for repairs at the yard down the",
                     "coast, and for winter storage.", "Ask for it at the office."],
                    rights={1: 200, 2: 150})
    split = column(["The harbour master keeps a list of the berths that are free for repa\xad"])
    rest = column(["irs this week and for those waiting at the yard down the coast."])
    assert [(p.paragraphs, p.joint) for p in paragraphs([first, second])] == [
        (["The harbour master keeps a list of the berths that are free this week and of"], None),
        (["those taken by boats waiting for repairs at the yard down the coast, and for winter "
          "storage.", "Ask for it at the office."], " ")]
    assert [(p.paragraphs, p.joint) for p in paragraphs([split, rest])] == [
        (["The harbour master keeps a list of the berths that are free for repa"], None),
        (["irs this week and for those waiting at the yard down the coast."], "")]
