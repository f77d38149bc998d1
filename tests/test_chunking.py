"""Passages: paragraphs that fit the model, with exact offsets (hypothesis + sample corpus)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import Embedder
from index.chunking import (
    MAX_CHARACTERS_PER_TOKEN,
    Passage,
    normalize_whitespace,
    split_passages,
)
from index.documents import load_document
from index.formats.page_parts import page_parts
from index.formats.structure import Part, Structure, TextBuilder

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def words_count(text: str) -> int:
    """A stand-in tokenizer for the pure tests: one token per word plus two specials."""
    return len(text.split()) + 2


def split(text: str, max_tokens: int = 40, **kwargs: int) -> list[Passage]:
    return split_passages(text, words_count, max_tokens, **kwargs)


def texts(passages: list[Passage]) -> list[str]:
    return [p.text for p in passages]


def test_blank_lines_separate_paragraphs_and_single_breaks_do_not() -> None:
    text = "First paragraph has five words\nand continues here.\n\nSecond paragraph also has words."
    assert texts(split(text)) == [
        "First paragraph has five words and continues here.",
        "Second paragraph also has words.",
    ]


def test_without_blank_lines_each_line_is_a_paragraph() -> None:
    text = "One line is one paragraph here.\nAnother line is another paragraph."
    assert texts(split(text)) == [
        "One line is one paragraph here.",
        "Another line is another paragraph.",
    ]


def test_fragments_join_the_next_paragraph_and_trailing_ones_the_previous() -> None:
    text = (
        "The article body is long enough here.\n\nJohn Smith says\n\n"
        "I disagree with the article entirely.\n\nLeave a Reply"
    )
    assert texts(split(text)) == [
        "The article body is long enough here.",
        "John Smith says I disagree with the article entirely. Leave a Reply",
    ]


def test_repeated_title_makes_no_duplicate_passage() -> None:
    text = (
        "Russia To Send Troops To Iraq\n\nRussia To Send Troops To Iraq\n\n"
        "Body of the article with words.\n\nRussia To Send Troops To Iraq"
    )
    assert texts(split(text)) == [
        "Russia To Send Troops To Iraq",
        "Body of the article with words.",
    ]


def test_repeated_author_lines_stay_with_their_comments() -> None:
    text = (
        "Anonymous\n\nFirst comment has enough words.\n\n"
        "Anonymous\n\nSecond comment has words too."
    )
    assert texts(split(text)) == [
        "Anonymous First comment has enough words.",
        "Anonymous Second comment has words too.",
    ]


def test_long_paragraph_is_cut_at_sentences_with_one_sentence_of_overlap() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(10)]
    passages = split(" ".join(sentences), max_tokens=30)
    assert all(words_count(p.text) <= 30 for p in passages)
    assert passages[0].text.startswith("Sentence number 0")
    for before, after in zip(passages, passages[1:], strict=False):
        last_sentence = before.text.rsplit("Sentence", 1)[1]
        assert after.text.startswith("Sentence" + last_sentence)


def test_overlap_zero_gives_disjoint_passages() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(10))
    passages = split(text, max_tokens=30, overlap_sentences=0)
    assert all(a.end <= b.start for a, b in zip(passages, passages[1:], strict=False))


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = "Talks with the U.S. State Department went well. George W. Bush was pleased by them."
    passages = split(text, max_tokens=14, overlap_sentences=0)
    assert texts(passages) == [
        "Talks with the U.S. State Department went well.",
        "George W. Bush was pleased by them.",
    ]


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    passages = split(text, max_tokens=20)
    assert all(words_count(p.text) <= 20 for p in passages)
    assert " ".join(texts(passages)) == text


def test_one_huge_word_is_cut_into_pieces_that_fit() -> None:
    def chars_count(text: str) -> int:
        return len(text) // 4 + 2

    text = "x" * 1000
    passages = split_passages(text, chars_count, 40)
    assert all(chars_count(p.text) <= 40 for p in passages)
    assert "".join(texts(passages)) == text


def test_empty_and_blank_text_give_no_passages() -> None:
    assert split("") == []
    assert split(" \n\n \t\n") == []


# Words drawn from any alphabet, separators of spaces, single and double line breaks.
_word = st.text(st.characters(categories=["L", "N", "P"]), min_size=1, max_size=12)
_separator = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\n \n", ". ", "! "])
_document = st.lists(st.tuples(_word, _separator), max_size=300).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)


@settings(max_examples=200, deadline=None)
@given(text=_document, max_tokens=st.integers(8, 60), overlap=st.integers(0, 2),
       min_words=st.integers(0, 6))
def test_properties_with_a_word_tokenizer(
    text: str, max_tokens: int, overlap: int, min_words: int
) -> None:
    passages = split(text, max_tokens, overlap_sentences=overlap, min_words=min_words)
    check_invariants(text, passages, words_count, max_tokens)
    assert passages == split(text, max_tokens, overlap_sentences=overlap, min_words=min_words)


@settings(max_examples=60, deadline=None)
@given(text=_document, max_tokens=st.integers(32, 80))
def test_properties_with_the_model_tokenizer(
    embedder: Embedder, text: str, max_tokens: int
) -> None:
    passages = split_passages(text, embedder.count_tokens, max_tokens)
    check_invariants(text, passages, embedder.count_tokens, max_tokens)


def check_invariants(text: str, passages: list[Passage], count, max_tokens: int) -> None:  # type: ignore[no-untyped-def]
    for passage in passages:
        assert passage.text, "no empty passage"
        assert normalize_whitespace(text[passage.start : passage.end]) == passage.text
        assert count(passage.text) <= max_tokens
    assert [p.start for p in passages] == sorted(p.start for p in passages), "document order"
    covered = {word for p in passages for word in p.text.split()}
    assert set(text.split()) <= covered, "every word of the document is in some passage"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.stem)
def test_sample_corpus_passages(embedder: Embedder, path: Path) -> None:
    document = load_document(path, CORPUS)
    passages = split_passages(document.text, embedder.count_tokens, embedder.max_tokens)
    check_invariants(document.text, passages, embedder.count_tokens, embedder.max_tokens)
    assert len(passages) >= 10
    # The title line is often repeated by the scraper: it must not become two passages.
    with_title = [p for p in passages if p.text == document.title]
    assert len(with_title) <= 1
    assert len({p.text for p in passages}) == len(passages)


def characters_count(text: str) -> int:
    """A stand-in tokenizer that makes long runs too long, so they are cut at sentence ends."""
    return len(text) // 3 + 2


# Each shape once with every sentence-end mark: a run of it, it between letters, initials
# before it ("A. B. C."), and it before a capital. 120,000 dots took 167 s when the
# sentence pattern backtracked; each case here takes well under a tenth of a second.
RUN_LENGTH = 60_000


@pytest.mark.parametrize("mark", [".", "!", "?", "…", "'", '"', ")", " ", "\t", "-", "#"])
def test_splitting_is_linear_on_long_runs_of_punctuation(mark: str) -> None:
    shapes = [
        mark * RUN_LENGTH,
        ("x" + mark) * (RUN_LENGTH // 2),
        ("A" + mark + " ") * (RUN_LENGTH // 3),
        (mark + " A") * (RUN_LENGTH // 3),
        "Word" + mark * RUN_LENGTH + " Next",
    ]
    for text in shapes:
        started = time.perf_counter()
        passages = split_passages(text, characters_count, 256)
        elapsed = time.perf_counter() - started
        assert elapsed < 3, f"{elapsed:.1f} s on {text[:12]!r}..."  # quadratic: minutes
        assert all(characters_count(p.text) <= 256 for p in passages)


def test_a_huge_word_becomes_passages_of_bounded_length() -> None:
    # The tokenizer sees one unknown token in a 1 MB "word": without a character bound it
    # would be one 1 MB passage, returned whole by the API and the page.
    word = "x" * 1_000_000
    passages = split_passages(f"Before it.\n\n{word}\n\nAfter it.", lambda _: 3, 256)
    limit = 256 * MAX_CHARACTERS_PER_TOKEN
    assert all(len(p.text) <= limit for p in passages)
    assert "".join(p.text for p in passages).replace(" ", "") == f"Beforeit.{word}Afterit."
    assert len(passages) >= len(word) // limit


# --- structure: sections, whole blocks, pages --------------------------------------------


def built(*blocks: tuple[str, str, int] | int) -> tuple[str, Structure]:
    """Text and structure from (text, kind, level) blocks; an int starts that page."""
    builder = TextBuilder()
    for block in blocks:
        if isinstance(block, int):
            builder.page(block)
        else:
            builder.add(*block)
    return builder.text, builder.structure


def test_a_passage_never_spans_two_sections_and_knows_its_trail() -> None:
    text, structure = built(
        ("Preface text that stands before any heading at all.", "paragraph", 1),
        ("Ownership", "heading", 1),
        ("What is ownership?", "heading", 2),  # right under its parent: one section
        ("Each value has an owner and there can only be one.", "paragraph", 1),
        ("Borrowing", "heading", 2),
        ("A reference borrows a value without taking ownership.", "paragraph", 1),
        ("Slices", "heading", 1),
        ("A slice is a kind of reference too.", "paragraph", 1),
    )
    passages = split_passages(text, words_count, 200, structure=structure)
    assert [(p.text, p.section) for p in passages] == [
        ("Preface text that stands before any heading at all.", ()),
        ("Ownership What is ownership? Each value has an owner and there can only be one.",
         ("Ownership", "What is ownership?")),
        ("Borrowing A reference borrows a value without taking ownership.",
         ("Ownership", "Borrowing")),
        ("Slices A slice is a kind of reference too.", ("Slices",)),
    ]


def test_a_sections_paragraphs_share_passages_up_to_the_limit() -> None:
    paragraphs = ["The watch API is not consistent across all platforms.",
                  "The recursive option is only supported on macOS and Windows.",
                  "On Windows no events are emitted when the directory moves."]
    text, structure = built(
        1, ("Caveats", "heading", 1), *[(p, "paragraph", 1) for p in paragraphs],
        2, ("A new page starts a passage even in the same section.", "paragraph", 1))
    passages = split_passages(text, words_count, 200, structure=structure)
    assert [(p.text, p.pages) for p in passages] == [
        ("Caveats " + " ".join(paragraphs), (1, 1)),
        ("A new page starts a passage even in the same section.", (2, 2)),
    ]
    # Packed up to the limit (here 22 tokens: 20 words), cut only between paragraphs.
    passages = split_passages(text, words_count, 22, structure=structure)
    assert texts(passages)[:2] == [f"Caveats {paragraphs[0]} {paragraphs[1]}", paragraphs[2]]
    # Without a heading (flat text) and in comments, a paragraph is a passage.
    assert texts(split("\n\n".join(paragraphs), 200)) == paragraphs
    text, structure = built(("Caveats", "heading", 1), *[(p, "paragraph", 1) for p in paragraphs])
    comment = Structure(structure.blocks, parts=(Part(structure.blocks[0].end, len(text),
                                                      "comment", "Jane"),))
    assert texts(split_passages(text, words_count, 200, structure=comment)) == [
        "Caveats", *paragraphs]


def test_a_long_heading_still_leads_into_its_section() -> None:
    text, structure = built(("A heading of many more words than a fragment has", "heading", 1),
                            ("Its only paragraph says this much.", "paragraph", 1))
    [passage] = split_passages(text, words_count, 200, structure=structure)
    assert passage.section == ("A heading of many more words than a fragment has",)


def test_code_lists_and_tables_stay_whole_when_they_fit() -> None:
    code = "def f():\n\n    return 1\n\n\nprint(f())\nprint(f() + f())"
    text, structure = built(
        ("Code follows here in this section.", "paragraph", 1), (code, "code", 1),
        ("first item has some words", "item", 1), ("second item has some words", "item", 2),
        ("a | b", "row", 1), ("c | d", "row", 1),
    )
    passages = split_passages(text, words_count, 200, structure=structure)
    assert texts(passages) == [
        "Code follows here in this section.", "def f(): return 1 print(f()) print(f() + f())",
        "first item has some words second item has some words", "a | b c | d"]
    # Too long for one passage: cut between lines, never inside one.
    passages = split_passages(text, words_count, 8, structure=structure)
    assert texts(passages)[1:5] == ["def f(): return 1 print(f())", "print(f() + f())",
                                    "first item has some words", "second item has some words"]


def test_passages_know_their_pages_and_ocr() -> None:
    builder = TextBuilder()
    builder.page(1)
    builder.add("Typed text on the first page of the scan.")
    builder.page(3)  # page 2 had no text
    builder.add("Text read from the scanned third page here.", ocr=True)
    passages = split_passages(builder.text, words_count, 200, structure=builder.structure)
    assert [(p.pages, p.ocr) for p in passages] == [((1, 1), False), ((3, 3), True)]
    # A paragraph that runs on over a page break has both pages.
    joined = split_passages(builder.text, words_count, 200, min_words=20,
                            structure=builder.structure)
    assert [(p.pages, p.ocr) for p in joined] == [((1, 3), True)]


def test_a_short_lead_in_ending_in_a_colon_joins_what_it_introduces() -> None:
    text = ("Moscow has been quiet on the matter for many weeks now, officials say.\n\n"
            "There is, perhaps, a price for Russian deployment:\n\n"
            "The Prime Minister's office has issued a directive to prepare a proposal.")
    assert texts(split(text)) == [
        "Moscow has been quiet on the matter for many weeks now, officials say.",
        "There is, perhaps, a price for Russian deployment: The Prime Minister's office has "
        "issued a directive to prepare a proposal.",
    ]
    # A long paragraph ending in a colon stands alone: it says something of its own.
    long_lead = " ".join(["word"] * 45) + ":"
    assert len(split(f"{long_lead}\n\nThe next paragraph has its own words.", 100)) == 2


def test_passages_never_span_two_parts_of_a_page() -> None:
    text = ("The article's only paragraph is right here.\n\nShare this\n\n"
            "Jane says\n\nA comment that agrees with it.\n\nBob says\n\nAnother comment here.")
    structure = Structure(parts=page_parts(text))
    passages = split_passages(text, words_count, 200, structure=structure)
    assert [(p.text, p.part, p.author) for p in passages] == [
        ("The article's only paragraph is right here.", "article", None),
        ("Jane says A comment that agrees with it.", "comment", "Jane"),
        ("Bob says Another comment here.", "comment", "Bob"),
    ]


_block = st.tuples(st.sampled_from(["paragraph", "heading", "item", "code", "row"]),
                   st.integers(1, 3), _document, st.booleans())


@settings(max_examples=150, deadline=None)
@given(blocks=st.lists(_block, max_size=25), max_tokens=st.integers(8, 60),
       comments_at=st.integers(0, 30))
def test_properties_with_structure(
    blocks: list[tuple[str, int, str, bool]], max_tokens: int, comments_at: int
) -> None:
    """Offsets, token limit, order and coverage hold with headings, whole blocks, pages and
    parts too; no passage spans a section or a part; furniture becomes no passage."""
    builder = TextBuilder()
    for page, (kind, level, text, new_page) in enumerate(blocks, 1):
        if new_page:
            builder.page(page)
        builder.add(text, kind, level)
    text, structure = builder.text, builder.structure
    spans = builder.spans
    # The blocks from ``comments_at`` on are comments, but every third is furniture.
    parts = tuple(
        Part(start, end, "furniture" if i % 3 == 0 else "comment", f"author {i}")
        for i, (start, end) in enumerate(spans) if i >= comments_at
    )
    structure = Structure(structure.blocks, structure.pages, "page", (), parts)
    passages = split_passages(text, words_count, max_tokens, structure=structure)
    furniture = [(p.start, p.end) for p in parts if p.kind == "furniture"]
    kept = "".join(" " if any(s <= i < e for s, e in furniture) else c
                   for i, c in enumerate(text))
    check_invariants(kept, passages, words_count, max_tokens)
    bounds = {start for start, _, _, _ in structure.regions(text)}
    for passage in passages:
        assert not any(passage.start < bound < passage.end for bound in bounds)
        region = [r for r in structure.regions(text) if r[0] <= passage.start < r[1]][0]
        assert passage.section == region[2]
        assert (passage.part, passage.author) == (
            (region[3].kind, region[3].author) if region[3] else ("article", None))
        assert passage.pages == structure.pages_of(passage.start, passage.end)
    assert passages == split_passages(text, words_count, max_tokens, structure=structure)



def test_a_repeat_a_heading_introduces_stays_with_it() -> None:
    builder = TextBuilder()
    for name in ("assert.equal(actual, expected)", "assert.notEqual(actual, expected)"):
        builder.add(name, "heading", 3)
        builder.add("actual <any> expected <any> message <string>")
        builder.add(f"Tests {name.split('(')[0]} between actual and expected.")
    builder.add("actual <any> expected <any> message <string>")  # a repeat no heading leads to
    found = split_passages(builder.text, words_count, 12, structure=builder.structure)
    assert [p.text for p in found] == [
        "assert.equal(actual, expected) actual <any> expected <any> message <string>",
        "Tests assert.equal between actual and expected.",
        "assert.notEqual(actual, expected) actual <any> expected <any> message <string>",
        "Tests assert.notEqual between actual and expected.",
    ]
