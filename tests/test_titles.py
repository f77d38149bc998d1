"""Tests for index.titles: the article's own title, not the furniture of a saved web page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from index import Embedder
from index.chunking import split_passages
from index.documents import load_documents
from index.formats import EXTRACTORS
from index.titles import is_furniture, page_title, text_title

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# Read from each file: the heading its article has (000 opens with a Flash notice and the
# site's name; its comment header "21 comments to ..." names the article).
SAMPLE_TITLES = {
    "000_d5f4f69b644cfd4d": "Russia To Send Troops To Iraq?",
    "001_e4d6116a5cfa59ae": "Russia Is Ready To Provide Iraq With Syria-like Military Assistance",
    "002_56ad20256a752cea":
        "Iraq and Russia Prepare to Boost Military Ties as US Threatens Sanctions",
    "003_4783bc61b2fd86ea": "Russian military presence in Iraq, reality or illusion",
    "004_b6556f2a56b03e86":
        "Baghdad seeking ‘substantial’ Russian military & political presence in Iraq"
        " – vice-president",
}


def test_every_sample_document_gets_its_articles_title() -> None:
    report = load_documents(CORPUS)
    assert {doc.id: doc.title for doc in report.documents} == SAMPLE_TITLES


def test_the_title_line_leads_into_the_text_after_it(embedder: Embedder) -> None:
    """No passage is the title alone: a dozen words that match every query about the article
    would crowd out the passage that answers (the title of 002 did, for "what did Trump
    threaten"). The title line joins what follows it, and opens no section."""
    for document in load_documents(CORPUS).documents:
        titles = [b for b in document.structure.blocks if b.kind == "title"]
        assert titles and all(document.text[b.start : b.end] == document.title for b in titles)
        found = split_passages(document.text, embedder.count_tokens, embedder.max_tokens,
                               structure=document.structure)
        assert not [p for p in found if p.text == document.title], document.id
        assert all(p.section == () for p in found)
        [first] = [p for p in found if p.start <= titles[-1].start < p.end]
        assert first.text.startswith(document.title)
    # 000: the site's name above its title is furniture, not the start of the article.
    [document] = [d for d in load_documents(CORPUS).documents if d.id.startswith("000")]
    found = split_passages(document.text, embedder.count_tokens, embedder.max_tokens,
                           structure=document.structure)
    assert found[0].text.startswith("Russia To Send Troops To Iraq? 40,000 troops")
    assert "Jehoshua" not in " ".join(p.text for p in found)


# --- plain text ---------------------------------------------------------------------------


def test_a_player_notice_first_is_passed_over() -> None:
    text = ("Content on this page requires a newer version of Adobe Flash Player.\n\n"
            "Get Adobe Flash player\n\nTide tables for the coast\n\nHigh water at six.")
    assert text_title(text) == "Tide tables for the coast"


def test_the_title_a_comment_header_names_beats_the_site_name_above_it() -> None:
    text = ("The Harbour Gazette\n\nNew pier opens on Monday\n\nThe pier opens.\n\n"
            "21 comments to New pier opens on Monday\n\nAnonymous\n\nAbout time.")
    assert text_title(text) == "New pier opens on Monday"


@pytest.mark.parametrize("header", [
    "3 Responses to “New pier opens on Monday”",
    "12 thoughts on \"New pier opens on Monday\"",
    "One comment on New pier opens on Monday",
])
def test_other_comment_headers_name_the_article_too(header: str) -> None:
    text = f"Harbour Gazette\n\nThe pier opens.\n\n{header}\n\nGreat news."
    assert text_title(text) == "New pier opens on Monday"


def test_leave_a_reply_to_names_the_title_only_when_the_page_shows_that_line() -> None:
    page = "Harbour Gazette\n\nNew pier opens on Monday\n\nThe pier opens.\n\n"
    assert text_title(page + "Leave a Reply to New pier opens on Monday") == (
        "New pier opens on Monday")
    # The reply form also names the commenter replied to: a name, not the title.
    assert text_title(page + "Leave a Reply to Jane Doe") == "Harbour Gazette"


def test_comment_lines_are_not_title_candidates() -> None:
    text = "Leave a Reply\n\nJane Doe says:\n\nNice."
    assert text_title("Share this article\n\n" + text) is None


def test_a_line_repeated_as_the_heading_is_the_title() -> None:
    text = "Harbour Gazette\n\nNew pier opens on Monday\n\nNew pier opens on Monday\n\nIt opens."
    assert text_title(text) == "New pier opens on Monday"


def test_the_story_part_of_a_story_and_site_line_that_recurs_is_the_title() -> None:
    text = "New pier opens | Harbour Gazette\n\nHome | News | Sport\n\nNew pier opens\n\nIt opens."
    assert text_title(text) == "New pier opens"


def test_without_evidence_the_first_meaningful_line_is_the_title() -> None:
    text = ("We use cookies to improve your experience. Accept cookies\n\nSkip to content\n\n"
            "Home | News | Sport | Weather\n\nMenu\n\nNew pier opens\n\nIt opens on Monday.")
    assert text_title(text) == "New pier opens"


def test_a_title_with_a_dash_in_plain_text_keeps_both_parts() -> None:
    assert text_title("Pier opens – mayor\n\nBody.") == "Pier opens – mayor"


def test_a_page_of_only_furniture_is_titled_by_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "saved-page.txt").write_text(
        "Get Adobe Flash player\n\nShare this\n\n© 2004 Harbour Gazette. All rights reserved.\n")
    [document] = load_documents(tmp_path).documents
    assert document.title == "saved-page"


@pytest.mark.parametrize("line", [
    "Content on this page requires a newer version of Adobe Flash Player.",
    "This website uses cookies to ensure you get the best experience",
    "Skip to main content", "Home", "Home » News » World", "Share on Facebook",
    "Subscribe", "Copyright © 2020 Harbour Gazette", "www.harbourgazette.com",
])
def test_furniture_lines(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize("line", [
    "Flash floods hit the coast", "Like a Rolling Stone", "Home truths about the harbour",
    "Share prices fall as the pier opens",
])
def test_titles_that_share_words_with_furniture_are_not_furniture(line: str) -> None:
    assert not is_furniture(line)


# --- HTML ---------------------------------------------------------------------------------


def html_title(markup: str) -> str | None:
    return EXTRACTORS[".html"](markup.encode(), 100_000).title


def test_og_title_is_preferred_to_a_title_tag_carrying_the_site_name() -> None:
    page = ('<head><title>New pier opens | Harbour Gazette</title>'
            '<meta property="og:title" content="New pier opens on Monday"></head><p>It opens.</p>')
    assert html_title(page) == "New pier opens on Monday"


@pytest.mark.parametrize("title", ["New pier opens | Harbour Gazette",
                                   "Harbour Gazette - New pier opens",
                                   "New pier opens — Harbour Gazette"])
def test_the_site_name_the_page_gives_is_cut_from_the_title(title: str) -> None:
    page = (f'<head><title>{title}</title>'
            '<meta property="og:site_name" content="Harbour Gazette"></head><p>It opens.</p>')
    assert html_title(page) == "New pier opens"


def test_the_part_of_the_title_that_is_the_articles_h1_is_the_title() -> None:
    page = ("<head><title>Harbour Gazette :: News :: New pier opens</title></head>"
            "<body><header><h1>Harbour Gazette</h1></header>"
            "<article><h1>New pier opens</h1><p>It opens.</p></article></body>")
    assert html_title(page) == "New pier opens"


def test_a_title_with_a_separator_but_no_evidence_of_a_site_is_kept_whole() -> None:
    page = "<title>Pier opens - mayor</title><h1>Harbour news</h1>"
    assert html_title(page) == "Pier opens - mayor"


def test_json_ld_headline_and_twitter_title_are_titles_too() -> None:
    ld = ('<script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", '
          '"headline": "New pier opens", "publisher": {"name": "Harbour Gazette"}}]}</script>')
    assert html_title(f"<head><title>Harbour Gazette</title>{ld}</head><p>x</p>") == (
        "New pier opens")
    twitter = '<meta name="twitter:title" content="New pier opens">'
    assert html_title(f"<head><title>Harbour Gazette</title>{twitter}</head>") == (
        "New pier opens")


def test_broken_json_ld_is_passed_over() -> None:
    page = '<title>New pier opens</title><script type="application/ld+json">{"headline": </script>'
    assert html_title(page) == "New pier opens"


def test_page_title_falls_back_to_the_heading_when_nothing_is_stated() -> None:
    assert page_title([None, " ", ""], ["  New pier  opens "], []) == "New pier opens"
    assert page_title([], [], ["Harbour Gazette"]) is None


@pytest.mark.parametrize("word", ["requires ", "get adobe ", "we ", "word "])
def test_a_huge_one_line_text_is_titled_in_linear_time(word: str) -> None:
    line = word * 100_000
    started = time.perf_counter()
    assert text_title(line + "\n\nbody") is not None
    assert time.perf_counter() - started < 2


def test_a_huge_title_of_separators_is_chosen_in_linear_time() -> None:
    title = "pier | " * 100_000
    started = time.perf_counter()
    assert page_title([title], ["pier"] * 100, ["Harbour Gazette"]) == " ".join(title.split())
    assert time.perf_counter() - started < 2


def test_a_title_may_keep_the_markdown_its_heading_was_written_in() -> None:
    title = "Modules: `node:module` API | Node.js v18.20.4 Documentation"
    assert page_title([title], ["Modules: node:module API"], []) == "Modules: node:module API"
