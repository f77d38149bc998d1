"""HTML documentation pages read as a reader reads them: the site's sidebar and the page's
table of contents are not its text, code keeps its lines, version notes are furniture and
each documented option is a section of its own.

node-cli.html and node-path.html in tests/data/html/ are two pages of the Node.js v18.20.4
API documentation (MIT, see LICENSE-nodejs.md there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Embedder
from index.chunking import Passage, split_passages
from index.documents import Document, load_document
from index.formats.html import extract, visible_text

PAGES = Path(__file__).resolve().parent / "data" / "html"
# Lines of the site's sidebar (every page of the API) and of cli.html's table of contents.
SIDEBAR = ("Assertion testing", "Asynchronous context tracking",
           "Code repository and issue tracker")
TABLE_OF_CONTENTS = ("Table of contents", "--cpu-prof-dir --cpu-prof-interval")


def node_page(name: str) -> Document:
    return load_document(PAGES / f"node-{name}.html", PAGES)


def passages(document: Document, embedder: Embedder) -> list[Passage]:
    return split_passages(document.text, embedder.count_tokens, embedder.max_tokens,
                          structure=document.structure)


@pytest.mark.parametrize(("name", "title", "opening"), [
    ("cli", "Command-line API", "Command-line API Node.js comes with a variety of CLI options."),
    ("path", "Path", "Path Stability: 2 - Stable The node:path module provides utilities"),
])
def test_a_documentation_page_starts_with_its_article(
        embedder: Embedder, name: str, title: str, opening: str) -> None:
    document = node_page(name)
    found = passages(document, embedder)
    assert document.title == title  # not "... | Node.js v18.20.4 Documentation"
    assert found[0].text.startswith(opening)
    for line in (*SIDEBAR, *TABLE_OF_CONTENTS):
        assert line not in document.text


def test_an_option_is_a_passage_of_its_own_without_its_version_notes(embedder: Embedder) -> None:
    document = node_page("cli")
    found = passages(document, embedder)
    option = [p for p in found if p.section[-1:] == ("--enable-source-maps",)]
    assert option[0].section == ("Command-line API", "Options", "--enable-source-maps")
    assert option[0].text.startswith(
        "--enable-source-maps Enable Source Map v3 support for stack traces.")
    assert "--enable-fips" not in " ".join(p.text for p in option)
    # Its history ("Added in", "no longer experimental") is shown after its text, as
    # furniture: it makes no passage.
    heading = document.text.index("--enable-source-maps\n")
    note = document.text.index("This API is no longer experimental.", heading)
    assert note > option[-1].end
    assert any(part.kind == "furniture" and part.start <= note < part.end
               for part in document.structure.parts)
    assert not any(p.start <= note < p.end for p in found)
    # No heading is a passage alone, nor are headings chained into one.
    headings = [b for b in document.structure.blocks if b.kind == "heading"]
    for passage in found:
        assert sum(passage.start <= h.start < passage.end for h in headings) <= 2
        assert not any((h.start, h.end) == (passage.start, passage.end) for h in headings)


def test_code_keeps_its_lines() -> None:
    text = node_page("path").text
    assert ("path.basename('/foo/bar/baz/asdf/quux.html');\n// Returns: 'quux.html'\n\n"
            "path.basename('/foo/bar/baz/asdf/quux.html', '.html');\n// Returns: 'quux'") in text
    # Highlighters wrap each line in a <span> (with or without a newline after it) or
    # break lines with <br>.
    spans = ('<pre><code><span class="line"><span class="k">const</span> a = 1;</span>'
             '<span class="line">b();</span>\n<span class="line">c();</span></code></pre>')
    assert visible_text(spans.encode()) == "const a = 1;\nb();\nc();"
    assert visible_text(b"<pre>a = 1<br>b = 2<br><br>c()</pre>") == "a = 1\nb = 2\n\nc()"
    assert visible_text(b"<pre><div>one</div><div>two</div></pre>") == "one\ntwo"


def test_navigation_is_told_by_its_markup_and_its_links() -> None:
    menu = "".join(f'<li><a href="/{i}">Page {i}</a></li>' for i in range(6))
    body = ("<h1>Moorings</h1><p>Swing moorings are let by the season, and a waiting list is "
            "kept at the office for visitors who want one for a week or longer. "
            '<a href="/a">Rates</a>, <a href="/b">rules</a> and <a href="/c">forms</a>.</p>')
    for navigation in (f'<div role="navigation"><ul>{menu}</ul></div>',
                       f'<div class="site-sidebar"><ul>{menu}</ul></div>',
                       f'<details id="toc"><summary>Contents</summary><ul>{menu}</ul></details>',
                       f"<div><ul>{menu}</ul></div>"):  # mostly links, before the article
        text = visible_text(f"<body>{navigation}<main>{body}</main></body>".encode())
        assert text.startswith("Moorings\n\nSwing moorings"), navigation
    # A list of links after the article's start, or a "sidebar" that is text, is kept.
    assert "Page 3" in visible_text(f"<main>{body}<ul>{menu}</ul></main>".encode())
    assert "Swing moorings" in visible_text(f'<div class="has-sidebar">{body}</div>'.encode())
    # A page of nothing but links keeps them: they are its text.
    assert "Page 5" in visible_text(f"<body><div><ul>{menu}</ul></div></body>".encode())


def test_a_headings_source_link_is_not_its_text() -> None:
    page = (b'<title>Stream | Node.js v18.20.4 Documentation</title><h2>Stream'
            b'<a class="srclink" href="https://github.com/nodejs/node/blob/main/lib/stream.js">'
            b'[src]</a><a class="mark" href="#stream">#</a></h2><p>A stream is an abstract '
            b'interface for working with streaming data in Node.js.</p>')
    extracted = extract(page, 10_000)
    assert extracted.text.startswith("Stream\n\nA stream is")
    assert extracted.title == "Stream"


def test_version_notes_follow_their_sections_text_as_furniture() -> None:
    page = (b'<h2>open()</h2><div class="versionadded"><p>New in version 3.3.</p></div>'
            b"<p>Open a file and return a file object for reading or writing its bytes.</p>"
            b'<h2>Class: Reader</h2><div class="api_metadata"><span>Added in: v1.0</span></div>'
            b"<h3>reader.read()</h3><p>Read the next chunk of the stream into a buffer.</p>")
    extracted = extract(page, 10_000)
    assert extracted.text.split("\n\n") == [
        "open()", "Open a file and return a file object for reading or writing its bytes.",
        "New in version 3.3.", "Class: Reader", "reader.read()",
        "Read the next chunk of the stream into a buffer.", "Added in: v1.0",
    ]
    furniture = [extracted.text[p.start : p.end] for p in extracted.structure.parts
                 if p.kind == "furniture"]
    assert furniture == ["New in version 3.3.", "Added in: v1.0"]


def test_a_blogs_leading_menu_goes_and_its_heading_stays_the_articles() -> None:
    document = load_document(PAGES / "daringfireball-1.html", PAGES)
    assert "Vesper: Now for iPad" not in document.text  # the site's menu, before the article
    assert document.text.startswith("About This Site\n\nDaring Fireball is written")
    assert not any(p.start == 0 and p.kind == "furniture" for p in document.structure.parts)
