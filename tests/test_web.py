"""The web pages over the real model and the sample corpus, and the highlighting they use."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import Markup

from index import Config, Embedder
from index.lexical import STOP_WORDS, lexical_terms, query_terms
from index.request import SearchRequest
from service.highlight import MARKED_CHARS_PER_PAGE, Highlighter, highlight
from service.state import get_searcher, index_info

QUERY = "who speaks for the Russian foreign ministry"
# Its answer is the third of a comment's ten sentences (eval/sample_queries.jsonl).
DOLLARS = "commenter says US dollars were sent to Iraqi banks to be stolen and buy loyalty"


def page(client: FlaskClient, url: str, status: int = 200) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def hit_links(soup: BeautifulSoup) -> list[tuple[str, str]]:
    """(document path, passage id) of each result title, in order."""
    links = []
    for a in soup.select("li.hit .hit-title a"):
        url = urlsplit(a["href"])
        assert url.fragment.startswith("p-"), a["href"]
        links.append((url.path, url.fragment.removeprefix("p-")))
    return links


def ranks(soup: BeautifulSoup) -> list[int]:
    return [int(span.get_text().lstrip("#")) for span in soup.select("li.hit .rank")]


# --- highlight: pure unit tests -----------------------------------------------------------


def test_highlight_escapes_script_in_passage_and_query() -> None:
    marked = highlight('<script>alert("x")</script> and a script', "<script>")

    assert isinstance(marked, Markup)
    assert "<script" not in marked and "</script" not in marked
    assert marked == (
        "&lt;<mark>script</mark>&gt;alert(&#34;x&#34;)&lt;/<mark>script</mark>&gt;"
        " and a <mark>script</mark>"
    )


def test_highlight_marks_whole_words_whose_terms_the_search_looks_up() -> None:
    # Stemmed ("russians", "ministries"), any case, and the place the adjective names
    # ("Russia"), as the full-text search finds them; "Russ" is another term.
    marked = highlight("Russia, RUSSIAN and russians; the Russian ministries of Russ",
                       "russian MINISTRY")

    assert marked == (
        "<mark>Russia</mark>, <mark>RUSSIAN</mark> and <mark>russians</mark>; the "
        "<mark>Russian</mark> <mark>ministries</mark> of Russ"
    )


def test_highlight_never_marks_stop_words() -> None:
    assert highlight("Who is the x of THE ministry?", "who is the of ministries") == (
        "Who is the x of THE <mark>ministry</mark>?"
    )
    assert highlight("the a of x", "the a of") == "the a of x"


def test_highlight_marks_the_bigrams_of_unspaced_scripts() -> None:
    # "北京" and "京大" overlap: one mark; "大学" alone is not in the query.
    assert highlight("北京大学和北京", "北京大") == "<mark>北京大</mark>学和<mark>北京</mark>"


def test_highlight_without_terms_only_escapes() -> None:
    assert highlight("a < b & c", "") == "a &lt; b &amp; c"
    assert highlight("a < b & c", "<>&") == "a &lt; b &amp; c"


def test_highlight_treats_regex_syntax_in_the_query_as_text() -> None:
    assert highlight("foo.* and foobar", "foo.*") == "<mark>foo</mark>.* and foobar"
    assert highlight("(a+b) ab", "(ab|") == "(a+b) <mark>ab</mark>"


def test_highlight_handles_non_ascii_words() -> None:
    assert highlight("Café CAFÉ cafés cafe", "café") == (
        "<mark>Café</mark> <mark>CAFÉ</mark> <mark>cafés</mark> <mark>cafe</mark>"
    )


def test_marking_is_bounded_per_page_whatever_the_query() -> None:
    words = " ".join(f"word{i}" for i in range(150))  # a 1,000-character query
    marks = Highlighter(words + " needle", budget=50)
    first = marks("a needle in the first fifty characters, and a needle past them")
    assert first.count("<mark>needle</mark>") == 1 and first.endswith("a needle past them")
    assert marks("needle") == "needle"  # the page's budget is spent

    text = "the needle and the haystack " * 80_000  # 2.2 million characters
    started = time.perf_counter()
    marked = Highlighter(words + " needle")(text)
    # One pass over the first MARKED_CHARS_PER_PAGE characters (a pattern with 151
    # alternatives over the whole text took seconds).
    assert time.perf_counter() - started < 2
    assert marked.count("<mark>") == MARKED_CHARS_PER_PAGE // len("the needle and the haystack ")


# --- home page ------------------------------------------------------------------------------


def test_home_has_an_autofocused_search_box_and_the_index_in_the_footer(
    app: Flask, client: FlaskClient
) -> None:
    soup = page(client, "/")

    form = soup.select_one("main form")
    assert form["method"] == "get" and form["action"] == "/search"
    box = form.select_one('input[type="search"][name="q"]')
    assert box is not None and box.has_attr("autofocus")
    with app.app_context():
        info = index_info(get_searcher())
    footer = soup.select_one("footer").get_text(" ", strip=True)
    assert f"{info['documents']} documents" in footer
    assert f"{info['passages']} passages" in footer
    assert info["model"] in footer
    assert soup.select_one(".notice") is None


def test_pages_without_an_index_say_so(
    tmp_path: Path, sample_index: Config, embedder: Embedder
) -> None:
    from service import create_app

    empty = Config(docs_dir=sample_index.docs_dir, index_dir=tmp_path / "no-index")
    client = create_app(empty, embedder=embedder, watch=False).test_client()

    home = page(client, "/")
    assert "rebuild-index" in home.select_one(".notice").get_text()
    assert "No index loaded" in home.select_one("footer").get_text()
    assert home.select_one('input[name="q"][autofocus]') is not None
    error = page(client, "/search?q=iraq", status=503)
    assert "rebuild-index" in error.select_one(".message").get_text()


# --- results -------------------------------------------------------------------------------


def test_search_shows_ranked_hits_linking_to_their_passages(client: FlaskClient) -> None:
    soup = page(client, f"/search?q={QUERY}&k=5")

    links = hit_links(soup)
    assert len(links) == 5
    for path, _ in links:
        assert path.startswith("/documents/")
    hits = soup.select("li.hit")
    assert all(hit.select_one(".hit-title a").get_text(strip=True) for hit in hits)
    assert all(hit.select_one(".source").get_text(strip=True).endswith(".txt") for hit in hits)
    assert all(float(hit.select_one(".score").get_text().split()[-1]) > 0 for hit in hits)
    assert ranks(soup) == [1, 2, 3, 4, 5]
    marked = {m.get_text().lower() for m in soup.select("li.hit .hit-text mark")}
    # The full-text search also looks up "Russia" for "Russian" (index.lexical.expand_query).
    assert marked and marked <= {"speaks", "russian", "russia", "foreign", "ministry"}
    assert soup.select_one(".took") is not None
    assert soup.select_one('input[name="q"]')["value"] == QUERY


def test_result_links_open_the_document_at_the_passage(client: FlaskClient) -> None:
    soup = page(client, f"/search?q={QUERY}&k=1")
    href = soup.select_one("li.hit .hit-title a")["href"]
    (path, passage_id), = hit_links(soup)

    document = page(client, href)

    assert document.select_one(f"#p-{passage_id}.passage") is not None
    assert parse_qs(urlsplit(href).query)["q"] == [QUERY]
    assert document.select(".passage mark")


def test_pagination_gives_the_next_page(client: FlaskClient) -> None:
    first = page(client, f"/search?q={QUERY}&k=3&mode=dense")
    assert first.select_one('a[rel="prev"]') is None
    next_url = first.select_one('a[rel="next"]')["href"]
    assert parse_qs(urlsplit(next_url).query) == {
        "q": [QUERY], "k": ["3"], "mode": ["dense"], "offset": ["3"],
    }

    second = page(client, next_url)

    assert ranks(second) == [4, 5, 6]
    both = page(client, f"/search?q={QUERY}&k=6&mode=dense")
    assert hit_links(first) + hit_links(second) == hit_links(both)
    previous_url = second.select_one('a[rel="prev"]')["href"]
    assert hit_links(page(client, previous_url)) == hit_links(first)


def test_mode_links_and_document_filters_keep_the_search(client: FlaskClient) -> None:
    doc_id = "003_4783bc61b2fd86ea"
    soup = page(client, f"/search?q=iraq&k=2&offset=2&mode=lexical&doc={doc_id}")

    assert {path for path, _ in hit_links(soup)} == {f"/documents/{doc_id}"}
    assert soup.select_one(".modes .current").get_text() == "lexical"
    dense = soup.select_one('.modes a[href*="mode=dense"]')["href"]
    assert parse_qs(urlsplit(dense).query) == {
        "q": ["iraq"], "k": ["2"], "mode": ["dense"], "doc": [doc_id],
    }
    for rel in ("prev", "next"):
        link = parse_qs(urlsplit(soup.select_one(f'a[rel="{rel}"]')["href"]).query)
        assert link["doc"] == [doc_id] and link["mode"] == ["lexical"]
    header = soup.select_one("header form")
    assert header.select_one('input[name="mode"]')["value"] == "lexical"
    assert header.select_one('input[name="k"]')["value"] == "2"


def test_a_query_that_matches_nothing_says_so(client: FlaskClient) -> None:
    soup = page(client, "/search?q=zzzyyxx&mode=lexical")

    assert soup.select("li.hit") == []
    assert "No passages match" in soup.select_one(".empty").get_text()
    assert soup.select_one('a[rel="next"]') is None


def test_the_query_is_escaped_in_the_page(client: FlaskClient) -> None:
    response = client.get("/search", query_string={"q": "<script>alert(1)</script>"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "&lt;script&gt;" in html
    assert "<script>alert" not in html and "<script" not in html


def test_an_empty_query_goes_back_to_the_search_box(client: FlaskClient) -> None:
    for url in ("/search", "/search?q=", "/search?q=%20%20"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/"


@pytest.mark.parametrize(
    "query_string",
    ["q=iraq&k=abc", "q=iraq&k=0", "q=iraq&k=101", "q=iraq&mode=fuzzy", "q=iraq&offset=-1",
     "q=a&q=b"],
)
def test_bad_parameters_give_the_400_page(client: FlaskClient, query_string: str) -> None:
    soup = page(client, f"/search?{query_string}", status=400)

    assert soup.select_one(".status").get_text() == "400"
    assert soup.select_one(".message").get_text(strip=True)
    assert soup.select_one('a[href="/"]') is not None


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_web_and_api_return_the_same_hits(client: FlaskClient, mode: str) -> None:
    soup = page(client, f"/search?q={QUERY}&k=7&offset=2&mode={mode}")
    alternate = soup.select_one('link[rel="alternate"][type="application/json"]')["href"]
    assert urlsplit(alternate).path == "/api/search"

    api = client.get(alternate).get_json()

    assert [hit["passage_id"] for hit in api["results"]] == [p for _, p in hit_links(soup)]
    assert [hit["rank"] for hit in api["results"]] == ranks(soup)
    for hit, (path, passage_id) in zip(api["results"], hit_links(soup), strict=True):
        assert urlsplit(hit["document"]["url"]).path == path
        assert urlsplit(hit["document"]["url"]).fragment == f"p-{passage_id}"


# --- document view -------------------------------------------------------------------------


def test_the_document_page_shows_every_passage_with_its_anchor(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        searcher = get_searcher()
        doc_id = searcher.search(SearchRequest(QUERY, k=1)).hits[0].passage.document_id
        document, passages = searcher.get_document(doc_id)

    soup = page(client, f"/documents/{doc_id}")

    assert soup.select_one("h1").get_text() == document.title
    assert document.source in soup.select_one(".document-meta").get_text()
    anchors = [section["id"] for section in soup.select("section.passage")]
    assert anchors == [f"p-{p.id}" for p in passages]
    shown = " ".join(soup.select_one(".passages").get_text().split())
    for passage in passages:
        assert " ".join(passage.text.split()) in shown
    assert soup.select_one(".passage mark") is None
    alternate = soup.select_one('link[rel="alternate"]')["href"]
    assert client.get(alternate).get_json()["id"] == doc_id


@pytest.mark.parametrize("doc_id", ["001_e4d6116a5cfa59ae", "002_56ad20256a752cea"])
def test_the_document_page_shows_its_text_once(
    app: Flask, client: FlaskClient, doc_id: str
) -> None:
    """Overlapping passages and dropped repeats (both in these two) leave no text out or twice."""
    with app.app_context():
        document, _ = get_searcher().get_document(doc_id)
    soup = page(client, f"/documents/{doc_id}")

    for extra in soup.select(".passages .repeated, .passages .permalink, .passages .comment-by"):
        extra.decompose()
    shown = soup.select_one(".passages").get_text()
    assert shown.split() == document.text.split()


def test_the_document_page_highlights_the_query(client: FlaskClient) -> None:
    soup = page(client, "/documents/000_d5f4f69b644cfd4d?q=Lavrov")

    assert {m.get_text() for m in soup.select(".passage mark")} == {"Lavrov"}
    assert soup.select_one(".back a")["href"] == "/search?q=Lavrov"


def marks_and_matches(
    soup: BeautifulSoup, selector: str, query: str
) -> list[tuple[list[str], list[str]]]:
    """For each text on the page: the words marked, and the words (without a possessive 's)
    whose term the query's full-text search looks up."""
    wanted = set(query_terms(query))
    return [
        ([m.get_text() for m in text.select("mark")],
         [re.sub(r"['’][sS]$", "", w) for w in re.findall(r"\w+(?:['’]\w+)*", text.get_text())
          if set(lexical_terms(w)) & wanted])
        for text in soup.select(selector)
    ]


def test_the_results_page_marks_exactly_the_words_bm25_matched(client: FlaskClient) -> None:
    query = "the reports they are issuing"
    soup = page(client, f"/search?q={query}&mode=lexical&k=20")

    texts = marks_and_matches(soup, "li.hit .hit-text", query)
    assert texts
    for marked, matched in texts:
        assert marked == matched
    words = {word for marked, _ in texts for word in marked}
    assert {"reports", "Reported", "issue", "issues"} <= words  # stemmed: other forms too
    assert not {word.lower() for word in words} & STOP_WORDS


def test_the_document_page_marks_the_stemmed_forms_of_the_query(client: FlaskClient) -> None:
    soup = page(client, "/documents/000_d5f4f69b644cfd4d?q=reporting+issues")

    texts = marks_and_matches(soup, ".passage", "reporting issues")
    assert all(marked == matched for marked, matched in texts)
    words = {word for marked, _ in texts for word in marked}
    assert words == {"report", "reports", "issue", "issued"}


@pytest.mark.parametrize(
    ("words", "message"),
    [("lavrov " * 9000, "q must be at most 60000 characters"),
     ("a%00b", "q must not contain NUL characters"),
     ("%ff", "the query string is not valid UTF-8")],
)
def test_the_document_page_limits_its_words_to_mark_as_search_does(
    client: FlaskClient, words: str, message: str
) -> None:
    soup = page(client, f"/documents/000_d5f4f69b644cfd4d?q={words}", status=400)
    assert message in soup.select_one(".message").get_text()


def test_the_document_page_marks_a_long_query_quickly(client: FlaskClient) -> None:
    words = " ".join(f"w{i}" for i in range(200))[:990] + " Lavrov"  # 1,000 characters
    started = time.perf_counter()
    soup = page(client, f"/documents/000_d5f4f69b644cfd4d?q={words}")
    assert time.perf_counter() - started < 2  # once ~seconds: terms analysed per passage
    assert {m.get_text() for m in soup.select(".passage mark")} == {"Lavrov"}


def test_the_page_ignores_unknown_parameters_the_api_refuses(client: FlaskClient) -> None:
    assert client.get("/search?q=iraq&utm_source=mail").status_code == 200
    refused = client.get("/api/search?q=iraq&limit=5")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == "unknown parameter 'limit'"


def test_an_unknown_document_gives_the_404_page(client: FlaskClient) -> None:
    soup = page(client, "/documents/no/such/document", status=404)

    assert soup.select_one(".status").get_text() == "404"
    assert "no/such/document" in soup.select_one(".message").get_text()


# --- assets and CSP-friendliness -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", f"/search?q={QUERY}", "/documents/000_d5f4f69b644cfd4d?q=iraq", "/documents/nope",
     "/search?q=x&k=0"],
)
def test_pages_have_no_inline_script_or_style_and_only_local_assets(
    client: FlaskClient, url: str
) -> None:
    soup = BeautifulSoup(client.get(url).get_data(as_text=True), "html.parser")

    assert soup.select("script, style, [style]") == []
    assert not any(name.startswith("on") for tag in soup.find_all(True) for name in tag.attrs)
    stylesheet = soup.select_one('link[rel="stylesheet"]')["href"]
    assert stylesheet == "/static/style.css"
    assert not soup.select('[src^="http"], link[href^="http"], link[href^="//"]')


def test_the_stylesheet_is_served_and_highlights_the_target_passage(client: FlaskClient) -> None:
    response = client.get("/static/style.css")

    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert ".passage:target" in css
    assert "@import" not in css and "url(" not in css
    response.close()


def test_weak_results_say_no_close_match(client: FlaskClient) -> None:
    weak = client.get("/search?q=recipe+for+chocolate+chip+cookies").get_data(as_text=True)
    assert "No close match" in weak
    strong = client.get("/search?q=Russian+troops+sent+to+Iraq").get_data(as_text=True)
    assert "No close match" not in strong


def test_comments_are_labelled_and_the_parts_can_be_chosen(client: FlaskClient) -> None:
    soup = page(client, "/search?q=Russian+soldiers+in+Iraq+Bush+needs&part=comment")
    hits = soup.select(".hit")
    labels = [h.select_one(".hit-place .comment").get_text() for h in hits]
    # Named by the page, or not (004's numbered comments).
    assert labels and all(label.startswith("comment by ") or label == "a reader's comment"
                          for label in labels)
    assert labels[0] == "comment by Anonymous"
    current = soup.select_one(".parts .current").get_text()
    assert current == "comments"
    links = {a.get_text(): a["href"] for a in soup.select(".parts a")}
    assert set(links) == {"all", "articles"} and "part=article" in links["articles"]
    assert "part=" not in links["all"]
    # The page's own links and form keep the part chosen.
    assert all("part=comment" in a["href"] for a in soup.select(".modes:not(.parts) a"))
    assert soup.select_one('input[name="part"]')["value"] == "comment"
    link = soup.select_one(".hit-title a")["href"]
    document = page(client, link)
    linked = document.select_one(f"#{link.split('#')[1]}")
    assert linked.select_one(".comment-by").get_text() == "Comment by Anonymous"


# --- the sentence that answers -------------------------------------------------------------


def test_highlight_wraps_the_answer_sentences_around_the_word_marks() -> None:
    text = 'The <b>pier</b> is old. The ferry leaves at "ten". Storms stop it.'
    first, second = (0, 23), (24, 50)
    assert text[first[0] : first[1]] == "The <b>pier</b> is old."

    marked = Highlighter("ferry")(text, [second])

    assert marked == ('The &lt;b&gt;pier&lt;/b&gt; is old. <span class="answer">The '
                      '<mark>ferry</mark> leaves at &#34;ten&#34;.</span> Storms stop it.')
    both = Highlighter("pier")(text, [first, second])
    assert both.count('<span class="answer">') == 2 and "<b>" not in both
    assert both.startswith('<span class="answer">The &lt;b&gt;<mark>pier</mark>')


def test_the_results_page_marks_the_sentence_that_answers(client: FlaskClient) -> None:
    soup = page(client, f"/search?q={DOLLARS}")

    hits = soup.select("li.hit .hit-text")
    assert hits and all(len(hit.select("span.answer")) in (1, 2) for hit in hits)
    answer, = hits[0].select("span.answer")
    assert answer.get_text().startswith("The amounts of cash, wood pallets stacked high")
    assert hits[0].get_text().startswith("2. Who knows who is who? The amounts of cash")
    # The query's words stay marked inside it.
    assert {m.get_text() for m in answer.select("mark")} >= {"dollars", "banks", "loyalty"}
    api = client.get(f"/api/search?q={DOLLARS}&highlights=true").get_json()
    assert [[h["text"][m["start"] : m["end"]] for m in h["highlights"]] for h in api["results"]
            ] == [[span.get_text() for span in hit.select("span.answer")] for hit in hits]


def test_the_results_page_marks_no_sentence_when_told_not_to(client: FlaskClient) -> None:
    soup = page(client, f"/search?q={QUERY}&highlights=false")

    assert soup.select("li.hit") and not soup.select("span.answer")
    assert soup.select("li.hit .hit-text mark")


def test_the_stylesheet_sets_the_answer_sentences_apart(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    css = response.get_data(as_text=True)
    response.close()

    rule = css[css.index(".answer {") : css.index("}", css.index(".answer {"))]
    assert "background: var(--answer)" in rule and "border-bottom" in rule
