"""The parts of a saved web page: its article, its reader comments (with their authors) and its
furniture, on the sample articles saved as text and on real pages saved as HTML."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Embedder
from index.chunking import Passage, split_passages
from index.documents import Document, load_document
from index.formats import plain_text
from index.formats.page_parts import page_parts

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
PAGES = ROOT / "tests" / "data" / "html"


def sample(stem: str) -> Document:
    return load_document(CORPUS / f"{stem}.txt", CORPUS)


def passages(document: Document, embedder: Embedder) -> list[Passage]:
    return split_passages(document.text, embedder.count_tokens, embedder.max_tokens,
                          structure=document.structure)


def holding(found: list[Passage], words: str) -> Passage:
    [passage] = [p for p in found if words in p.text]
    return passage


def test_a_blog_saved_as_text_has_its_comments_by_their_authors(embedder: Embedder) -> None:
    document = sample("000_d5f4f69b644cfd4d")
    comments = [p for p in document.structure.parts if p.kind == "comment"]
    # One part for each of the page's 20 "• Anonymous" lines (its header counts 21 comments).
    assert len(comments) == 20 and {p.author for p in comments} == {"Anonymous"}
    found = passages(document, embedder)
    article = holding(found, "seriously considering sending up to 40,000 troops")
    assert (article.part, article.author) == ("article", None)
    comment = holding(found, "Bush needs")
    assert (comment.part, comment.author) == ("comment", "Anonymous")
    assert comment.text.startswith("• Anonymous Russian soldiers in Iraq?")


def test_furniture_is_made_into_no_passage(embedder: Embedder) -> None:
    document = sample("000_d5f4f69b644cfd4d")
    furniture = [document.text[p.start : p.end] for p in document.structure.parts
                 if p.kind == "furniture"]
    assert furniture[0].startswith("Content on this page requires a newer version of Adobe")
    assert "21 comments to Russia To Send Troops To Iraq?" in furniture
    assert furniture[-1] == "Leave a Reply"
    shown = " ".join(p.text for p in passages(document, embedder))
    for line in ("Adobe Flash Player", "21 comments to", "Leave a Reply", "© ITAR-TASS"):
        assert line not in shown
    assert "Russia To Send Troops To Iraq?" in shown  # the title line itself is the article's


def test_the_masthead_above_a_saved_pages_title_is_furniture() -> None:
    """A site's name or tagline above the article's title is the site's, not the article's;
    on a page with no sign of being saved from the web, or above a title with a paragraph
    before it, nothing is taken."""
    def furniture(text: str) -> list[str]:
        extracted = plain_text.extract(text.encode(), 10**6)
        return [text[p.start : p.end] for p in extracted.structure.parts
                if p.kind == "furniture"]

    page = ("Get Adobe Flash player\n\nThe Harbour Gazette\nNews for the coast\n\n"
            "New pier opens on Monday\n\nThe pier opens after two years of work.\n\n"
            "2 comments to New pier opens on Monday\n\n• Ann\n\nAbout time.")
    assert furniture(page)[0] == ("Get Adobe Flash player\n\nThe Harbour Gazette\n"
                                  "News for the coast")
    notes = page.replace("Get Adobe Flash player\n\n", "").split("\n\n2 comments")[0]
    assert furniture(notes) == []  # no comments, no furniture: not a saved page
    lead = page.replace("News for the coast",
                        "Our reporter spent the whole day at the harbour with the crowd.")
    assert "The Harbour Gazette" not in " ".join(furniture(lead))


def test_numbered_author_lines_begin_comments_without_a_header() -> None:
    document = sample("002_56ad20256a752cea")
    authors = [p.author for p in document.structure.parts if p.kind == "comment"]
    assert authors == ["thomas malthaus", "thomas malthaus", "CHUCKMAN", "Chris Chuba", "Jesus",
                       "CHUCKMAN", "rightiswrong rightiswrong", "Richard Seeto",
                       "David Bedford", "Monte McKenzie"]
    first = document.text.index("1. thomas malthaus says")
    assert all(p.start >= first for p in document.structure.parts)


def test_a_numbered_comment_list_before_closed_comments_is_comments(embedder: Embedder) -> None:
    document = sample("004_b6556f2a56b03e86")
    parts = [(p.kind, p.author, document.text[p.start : p.end]) for p in document.structure.parts]
    assert [(kind, author, text[:12]) for kind, author, text in parts] == [
        ("furniture", None, "About VT - R"),  # a policy line, between article and comments
        ("comment", None, "1. JoeTV , P"),
        ("comment", None, "2. Who knows"),  # with the reply to it ("• Hey joe, ...")
        ("comment", None, "3. Smart obs"),
        ("comment", None, "4. Maliki ca"),
        ("furniture", None, "Comments are"),
    ]
    found = passages(document, embedder)
    assert holding(found, "800 billion US$").part == "comment"
    # A teaser line names a story people search for: it stays the article's.
    assert holding(found, "READ MORE: Iraqi PM congratulates").part == "article"


def test_a_numbered_list_of_the_article_stays_the_article() -> None:
    steps = ("How to moor a boat\n\nDo this:\n\n1. Approach into the wind.\n\n"
             "2. Drop the anchor.\n\n3. Let out the chain.\n\nComments are closed.")
    assert [(p.kind, steps[p.start : p.end]) for p in page_parts(steps)] == [
        ("furniture", "Comments are closed.")]
    # Below furniture, the same list up to the closed comments is the comments.
    page = steps.replace("Do this:", "Do this: go slowly.\n\nShare this")
    kinds = [(p.kind, page[p.start : p.start + 2]) for p in page_parts(page)]
    assert kinds == [("furniture", "Sh"), ("comment", "1."), ("comment", "2."),
                     ("comment", "3."), ("furniture", "Co")]


@pytest.mark.parametrize("stem", ["001_e4d6116a5cfa59ae", "003_4783bc61b2fd86ea"])
def test_a_page_without_comment_marks_is_all_article(stem: str) -> None:
    assert sample(stem).structure.parts == ()


def test_rules_on_their_own() -> None:
    text = ("My article\n\nShare this\n\nIt has one long paragraph of its own words.\n\n"
            "3 Responses to My article\n\nAnn says:\n\nFirst!\n\nBob Smith says\n\nI agree.\n\n"
            "Reply\n\nLeave a Reply\n\nName *\n\nEmail *\n\nPost Comment")
    parts = [(p.kind, p.author, text[p.start : p.end]) for p in page_parts(text)]
    assert parts == [
        ("furniture", None, "Share this"),
        ("furniture", None, "3 Responses to My article"),
        ("comment", "Ann", "Ann says:\n\nFirst!"),
        ("comment", "Bob Smith", "Bob Smith says\n\nI agree."),
        ("furniture", None, "Reply\n\nLeave a Reply\n\nName *\n\nEmail *\n\nPost Comment"),
    ]
    # The form ends at the first line that is not a form's: what follows is the page's again.
    after = ("Text of the article itself.\n\nLeave a Reply\n\nName *\n\n"
             "A closing note on lighthouses.")
    assert [after[p.start : p.end] for p in page_parts(after)] == ["Leave a Reply\n\nName *"]
    # "says" inside a sentence, or one author line alone, starts no comments.
    assert page_parts("The minister says\n\nthat talks go on.\n\nNothing else here.") == ()


def test_a_text_pages_dateline_and_byline_are_its_date_and_author() -> None:
    # The sample blog post's dateline, after its article; its comments' dates are not it.
    blog = sample("000_d5f4f69b644cfd4d")
    assert "Originally posted Fri Jul 16th, 2004 at 07:02:49 PM CST" in blog.text
    assert (blog.date, blog.author) == ("2004-07-16", None)
    assert (sample("001_e4d6116a5cfa59ae").date, sample("001_e4d6116a5cfa59ae").author) == (
        None, None)

    def stated(text: str) -> tuple[str | None, str | None]:
        extracted = plain_text.extract(text.encode(), 10**6)
        return extracted.date, extracted.author

    assert stated("Tides\n\nBy Jane Doe and John Roe\n\n"
                  "Published: Tuesday 12 May 2020 09.30 BST\n\nText.") == (
        "2020-05-12", "Jane Doe and John Roe")
    assert stated("Tides\n\nPosted on 2019-03-04\n\nText.") == ("2019-03-04", None)
    # Not a whole date (no day), not an unambiguous one (March or April?), not a date at all,
    # an update's date, and "by" opening a sentence: nothing is taken.
    assert stated("Tides\n\nPosted in July 2004\n\nText.") == (None, None)
    assert stated("Tides\n\nPosted on 03/04/2019\n\nText.") == (None, None)
    assert stated("Tides\n\nPublished 5 years ago\n\nText.") == (None, None)
    assert stated("Tides\n\nUpdated: 4 March 2019\n\nText.") == (None, None)
    assert stated("Tides\n\nby the way, tides turn\n\nText.") == (None, None)
    # A dateline in a comment is the comment's.
    assert stated("Tides\n\nThe text of the article, long enough.\n\n2 comments to Tides\n\n"
                  "Ann says:\n\nPosted on 4 March 2019\n\nBob says:\n\nYes.") == (None, None)


def test_a_saved_html_page_has_its_article_comments_and_furniture(embedder: Embedder) -> None:
    document = load_document(PAGES / "wordpress.html", PAGES)
    assert (document.date, document.author) == ("2017-03-09", "Sarah Gooding")
    found = passages(document, embedder)
    article = holding(found, "Stack Overflow published its analysis of 2017 hiring trends")
    assert article.part == "article"
    first = holding(found, "If there were really no demand for WordPress developers")
    later = holding(found, "self called ‘developers’ who actually don’t know how to code")
    assert first.part == later.part == "comment"  # the extractor found only the first
    shown = " ".join(p.text for p in found)
    for furniture in ("Click to email this to a friend", "Share this:"):
        assert furniture in document.text and furniture not in shown


def test_an_html_page_keeps_the_headings_the_extractor_dropped(embedder: Embedder) -> None:
    page = PAGES / "structured.html"
    page.write_text("""<html><body><nav><a href="/">Home</a> · <a href="/docs">Docs</a></nav>
        <article><h1>Moorings</h1><p>Swing moorings are let by the season, and a waiting list
        is kept at the office for visitors who want one for a week or longer.</p>
        <h2>Berths</h2><p>Berths on the north quay take boats up to twelve metres, with water
        and power on every finger pontoon; book a night ahead in the summer months.</p>
        <p>Share this</p></article>
        <p>Copyright © 2026 Harbour Office. All rights reserved.</p></body></html>""")
    try:
        document = load_document(page, PAGES)
    finally:
        page.unlink()
    found = passages(document, embedder)
    berths = holding(found, "north quay")
    assert (berths.part, berths.section) == ("article", ("Moorings", "Berths"))
    assert "Share this" not in " ".join(p.text for p in found)
    assert "Copyright" not in " ".join(p.text for p in found)
