"""The main content of web pages (index/formats/main_content.py), on real saved pages.

The pages in tests/data/html/ are mozilla/readability's test pages (Apache-2.0, see the
README there); each test names a sentence of the article that must be kept and a line of
page furniture, or of the comments, that must not be in it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from index.formats.main_content import Article, article

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "data" / "html"


def page(name: str) -> str:
    return (PAGES / f"{name}.html").read_text(encoding="utf-8")


def text(fragment: str | None) -> str:
    """What a reader sees of an HTML fragment: tags (links too) gone, spaces made one."""
    from lxml.html import fragment_fromstring

    if not fragment:
        return ""
    return " ".join(fragment_fromstring(fragment, create_parent="div").text_content().split())


def found(name: str) -> Article:
    result = article(page(name))
    assert result is not None
    return result


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a page must never fetch anything: every test runs with connections refused."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("main-content extraction tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_a_news_story_keeps_its_text_and_leaves_sharing_buttons_and_comments_out() -> None:
    ars = found("ars-1")
    assert "Pakistan-based developer Ammar Askar" in text(ars.html)
    assert "These were the fixes that I recommended to Mojang 2 years ago." in text(ars.html)
    for furniture in ("Share on Facebook", "Previous story", "Channel Ars Technica"):
        assert furniture not in text(ars.html)
    assert "You must login or create an account to comment." not in text(ars.html)
    assert ars.comments_html is not None
    assert "You must login or create an account to comment." in text(ars.comments_html)
    assert (ars.date, ars.author) == ("2015-04-16", "Dan Goodin")


def test_a_blog_post_keeps_its_quote_and_puts_the_readers_comment_apart() -> None:
    post = found("wordpress")
    assert "Stack Overflow published its analysis of 2017 hiring trends" in text(post.html)
    assert "<blockquote>" in post.html and "table stakes" in text(post.html)
    comment = "If there were really no demand for WordPress developers, I would not be so busy."
    assert comment not in text(post.html)
    assert post.comments_html is not None and comment in text(post.comments_html)
    for furniture in ("Click to share on Twitter", "Like Loading", "Stack Overflow Documentation"):
        assert furniture not in text(post.html)
    assert (post.date, post.author) == ("2017-03-09", "Sarah Gooding")


def test_a_medium_story_without_its_editor_and_sign_in_chrome() -> None:
    story = found("medium-2")
    assert "hearing the word “literally” used incorrectly" in text(story.html)
    for furniture in ("Sign in / Sign up", "Ready to publish?", "Will work for bacon"):
        assert furniture not in text(story.html)
    assert story.comments_html is None
    assert (story.date, story.author) == ("2015-02-24", "Courtney Kirchoff")


def test_a_page_without_a_date_or_author_says_none_and_drops_its_sidebar() -> None:
    colophon = found("daringfireball-1")
    assert "If you complain about this, I will laugh at you" in text(colophon.html)
    for furniture in ("Vesper: Now for iPad", "Script Debugger", "The Talk Show"):
        assert furniture not in text(colophon.html)
    assert (colophon.date, colophon.author) == (None, None)


FURNITURE_ONLY = """<html><head><title>Harbour Office</title></head><body>
<header><nav><ul>
<li><a href="/s1">Moorings</a></li><li><a href="/s2">Tide tables</a></li>
<li><a href="/s3">Fees and charges</a></li><li><a href="/s4">Visiting yachts</a></li>
<li><a href="/s5">Harbour news</a></li><li><a href="/s6">Contact the harbour master</a></li>
</ul></nav></header>
<div class="cookie-banner"><p>We use cookies to improve your experience. By continuing to
browse you agree to our cookie policy.</p><button>Accept all cookies</button></div>
<main><div class="teasers"><h2>Most read</h2><ul>
<li><a href="/a">Tide tables for the week ahead</a></li>
<li><a href="/b">Mooring fees rise in spring</a></li>
<li><a href="/c">Slipway closed for repairs</a></li></ul></div></main>
<footer><p>Copyright 2024 Harbour Office. All rights reserved.</p>
<p><a href="/p">Privacy policy</a> | <a href="/t">Terms of use</a> |
<a href="/c">Contact us</a> | <a href="/m">Sitemap</a></p></footer></body></html>"""

ARTICLE = """<html><head><title>Mooring guide</title></head><body>
<nav><a href="/">Home</a> <a href="/docs">Docs</a> <a href="/news">News</a></nav>
<article><h1>Mooring guide</h1>
<p>This guide explains how to moor a small boat in the outer harbour, where the tide runs
hard along the wall and the bottom holds poorly in places.</p>
<h2>Lines and fenders</h2>
<p>Use two bow lines and two stern lines, and hang fenders at the widest part of the hull
before you come alongside the pontoon.</p>
<ul><li>Bow line to the forward cleat</li><li>Stern line to the aft cleat</li>
<li>Springs last of all</li></ul>
<h3>Knots</h3>
<p>Tie off with <code>cleat hitch</code> on every cleat.</p>
<pre><code>one turn, two figure eights, one locking turn</code></pre>
<table><tr><th>Berth</th><th>Depth</th></tr><tr><td>A1</td><td>2.5 m</td></tr></table>
<p>Check the lines again at low water, when the boat sits lowest and the lines are
tightest against the cleats.</p></article>
<footer>Copyright 2024 Harbour Office</footer></body></html>"""


def test_a_page_of_menus_teasers_and_a_cookie_notice_has_no_article() -> None:
    assert article(FURNITURE_ONLY) is None


def test_the_article_keeps_its_headings_lists_code_and_tables() -> None:
    guide = article(ARTICLE)
    assert guide is not None
    html = guide.html
    assert html.startswith("<article>") and html.endswith("</article>")
    for kept in ("<h2>Lines and fenders</h2>", "<h3>Knots</h3>",
                 "<li>Bow line to the forward cleat</li>", "<code>cleat hitch</code>",
                 "<pre><code>one turn, two figure eights, one locking turn</code></pre>",
                 "<th>Berth</th>", "<td>2.5 m</td>"):
        assert kept in html
    assert "Copyright" not in html and "Docs" not in html


def test_too_little_text_or_no_html_at_all_gives_none() -> None:
    for markup in ("", "   ", "<html><body></body></html>", "<p></p>" * 50):
        assert article(markup) is None, markup
    # A short article on a page of many links is too little to trust: the caller keeps
    # the whole page.
    links = "".join(f'<li><a href="/{i}">Section {i} of the site</a></li>' for i in range(40))
    notice = "<article><p>Closed today for repairs to the slipway.</p></article>"
    short = f"<html><body><ul>{links}</ul>{notice}</body></html>"
    assert article(short) is None


def test_hostile_markup_is_read_without_error() -> None:
    deep = "<div>" * 5000 + "<p>" + "deep text " * 100 + "</p>" + "</div>" * 5000
    for markup in (
        deep,
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>' + "prolog " * 100 + "</p>",
        "<html><body>\x00\x01<p>" + "nul " * 100 + "</p><script>" + "x" * 10_000,
        "<p>" * 20_000,
        # A URL as the whole input must be read as text, never fetched.
        "https://example.com/article.html",
    ):
        result = article(markup, url="https://example.com/article.html")
        assert result is None or isinstance(result.html, str)


def test_the_same_page_gives_the_same_article_every_time() -> None:
    first = article(page("wordpress"))
    article(page("ars-1"))  # nothing carried over from another page
    assert article(page("wordpress")) == first


def test_the_library_is_imported_only_when_a_page_is_read() -> None:
    code = (
        "import sys\n"
        "import index.formats.main_content as m\n"
        "print('trafilatura' in sys.modules, 'lxml' in sys.modules)\n"
        "m.article('<html><body><p>' + 'harbour ' * 80 + '</p></body></html>')\n"
        "print('trafilatura' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]
