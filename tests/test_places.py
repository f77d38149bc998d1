"""Where a result is in its document, end to end: the heading trail and page a hit carries
in JSON and on the results page, and the document page showing the document's structure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient

from index import Config, Embedder, build_index
from tests.pdf_files import pdf_bytes

PAGES = Path(__file__).resolve().parent / "data" / "html"

GUIDE = """\
---
title: Harbour guide
---
# Moorings

Visitors pick up any free white buoy in the outer harbour and pay at the office.

## Anchoring

Anchoring is forbidden inside the swing moorings because chains foul the ground tackle.

- Keep clear of the fairway at all times.
- Show an anchor ball by day.
  - An all-round white light by night.

```sh
echo "<script>alert(1)</script>"

tide --port falmouth
```

| Berth | Depth |
|---|---|
| North pontoon | 2.5 m |
"""

MANUAL = ["The winch handle lives in the cockpit locker.",
          "Bleed the diesel injectors after changing the fuel filter.",
          "The gas locker drains overboard through the transom."]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> FlaskClient:
    from service import create_app

    root = tmp_path_factory.mktemp("places")
    docs = root / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(GUIDE)
    (docs / "manual.pdf").write_bytes(pdf_bytes(MANUAL, title="Engine manual"))
    shutil.copy(PAGES / "wordpress.html", docs / "blog.html")
    config = Config(docs_dir=docs, index_dir=root / "index")
    build_index(config, embedder=embedder)
    app = create_app(config, embedder=embedder, watch=False)
    app.config["TESTING"] = True
    return app.test_client()


def first_hit(client: FlaskClient, q: str) -> dict:  # type: ignore[type-arg]
    response = client.get("/api/search", query_string={"q": q, "k": 1})
    assert response.status_code == 200
    return response.get_json()["results"][0]  # type: ignore[no-any-return]


def test_a_hit_carries_its_heading_trail(client: FlaskClient) -> None:
    hit = first_hit(client, "why may I not drop anchor among the moorings")
    assert "chains foul the ground tackle" in hit["text"]
    assert hit["section"] == ["Moorings", "Anchoring"]
    assert (hit["page"], hit["last_page"], hit["document"]["page_kind"]) == (None, None, None)
    intro = first_hit(client, "white buoy pay at the office")
    assert intro["section"] == ["Moorings"]


def test_a_pdf_hit_carries_its_page(client: FlaskClient) -> None:
    hit = first_hit(client, "bleeding injectors after a filter change")
    assert "Bleed the diesel injectors" in hit["text"]
    assert (hit["page"], hit["last_page"], hit["section"]) == (2, 2, [])
    assert hit["document"]["page_kind"] == "page"
    assert first_hit(client, "gas locker drain")["page"] == 3
    manual = client.get("/api/documents/manual").get_json()
    assert (manual["type"], manual["page_count"]) == ("pdf", 3)


def test_the_results_page_says_where_each_hit_is(client: FlaskClient) -> None:
    soup = BeautifulSoup(client.get("/search?q=bleed+diesel+injectors").get_data(as_text=True),
                         "html.parser")
    first = soup.select_one(".hit")
    assert first.select_one(".hit-place .page").get_text() == "p. 2"
    link = first.select_one(".hit-title a")["href"]
    assert link.startswith("/documents/manual?") and "#p-" in link

    soup = BeautifulSoup(client.get("/search?q=anchoring+forbidden+swing+moorings")
                         .get_data(as_text=True), "html.parser")
    assert soup.select_one(".hit .hit-place .section").get_text() == "Moorings › Anchoring"


def test_a_hit_shows_when_its_page_was_published_and_by_whom(client: FlaskClient) -> None:
    hit = first_hit(client, "Stack Overflow's analysis of 2017 hiring trends")
    assert hit["document"]["id"] == "blog"
    assert (hit["document"]["date"], hit["document"]["author"]) == ("2017-03-09",
                                                                    "Sarah Gooding")
    guide = first_hit(client, "white buoy pay at the office")["document"]
    assert (guide["date"], guide["author"]) == (None, None)  # Markdown stating neither

    soup = BeautifulSoup(client.get("/search?q=Stack+Overflow+hiring+trends+2017&k=3")
                         .get_data(as_text=True), "html.parser")
    blog = next(h for h in soup.select(".hit")
                if h.select_one(".source").get_text() == "blog.html")
    assert blog.select_one(".hit-meta .author").get_text() == "by Sarah Gooding"
    assert blog.select_one(".hit-meta time")["datetime"] == "2017-03-09"
    soup = BeautifulSoup(client.get("/search?q=white+buoy+office&k=1").get_data(as_text=True),
                         "html.parser")
    assert soup.select_one(".hit-meta time") is None


def test_the_document_page_shows_the_structure_escaped(client: FlaskClient) -> None:
    response = client.get("/documents/guide")
    html = response.get_data(as_text=True)
    soup = BeautifulSoup(html, "html.parser")
    assert [h.get_text() for h in soup.select(".passages h2")] == ["Moorings"]
    assert [h.get_text() for h in soup.select(".passages h3")] == ["Anchoring"]
    items = soup.select(".passages ul.items li")
    assert [(li.get_text(), li["class"]) for li in items] == [
        ("Keep clear of the fairway at all times.", ["level-1"]),
        ("Show an anchor ball by day.", ["level-1"]),
        ("An all-round white light by night.", ["level-2"]),
    ]
    code = soup.select(".passages pre.code code")
    assert [c.get_text() for c in code] == [
        'echo "<script>alert(1)</script>"\n\ntide --port falmouth']
    assert "<script>" not in html  # shown as text, never run
    assert [[td.get_text() for td in tr.select("td")]
            for tr in soup.select(".passages table.rows tr")] == [
        ["Berth", "Depth"], ["North pontoon", "2.5 m"]]
    # Every passage is there, and each heading leads its section's passage.
    passages = soup.select("section.passage")
    assert passages[0].select_one("h2") and passages[1].select_one("h3")


def test_the_document_page_marks_where_each_page_starts(client: FlaskClient) -> None:
    soup = BeautifulSoup(client.get("/documents/manual").get_data(as_text=True), "html.parser")
    markers = soup.select(".passages .page-marker")
    assert [(m.get_text(), m["id"]) for m in markers] == [
        ("Page 1", "page-1"), ("Page 2", "page-2"), ("Page 3", "page-3")]
    for marker in markers:
        marker.decompose()
    for extra in soup.select(".passages .permalink"):
        extra.decompose()
    assert soup.select_one(".passages").get_text().split() == " ".join(MANUAL).split()


def test_a_fenced_code_block_is_one_passage(client: FlaskClient) -> None:
    document = client.get("/api/documents/guide").get_json()
    texts = [document["text"][p["start"] : p["end"]] for p in document["passages"]]
    assert sum('echo "<script>' in t for t in texts) == 1
    code = next(t for t in texts if 'echo "<script>' in t)
    assert "tide --port falmouth" in code
    assert all(p["section"] for p in document["passages"])


def test_the_sections_are_documented(client: FlaskClient) -> None:
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]
    hit = schema["Hit"]["properties"]
    assert hit["section"] == {"type": "array", "items": {"type": "string"}}
    assert hit["page"] == {"type": "integer", "nullable": True}




def test_a_web_pages_date_and_author_are_the_documents(client: FlaskClient) -> None:
    document = client.get("/api/documents/blog").get_json()
    assert (document["date"], document["author"]) == ("2017-03-09", "Sarah Gooding")
    soup = BeautifulSoup(client.get("/documents/blog").get_data(as_text=True), "html.parser")
    meta = soup.select_one(".document-meta")
    assert meta.select_one(".author").get_text() == "by Sarah Gooding"
    assert meta.select_one("time")["datetime"] == "2017-03-09"
    # Its furniture is shown apart from the passages; its comments are labelled.
    between = " ".join(e.get_text() for e in soup.select(".passages .between"))
    assert "Click to email this to a friend" in between
    assert soup.select(".passage .comment-by")
