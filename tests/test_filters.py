"""Narrowing a search by folder, file type and modification time, and counting the
candidates' documents by folder and type (facets): the real app over a real index of a
folder with subfolders and several formats."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from index import Config, Embedder, IndexFolder, Searcher, SearchRequest
from index.search import EXACT_SUBSET


@pytest.fixture(scope="module")
def folder_client(folder_index: Config, embedder: Embedder) -> Iterator[FlaskClient]:
    from service import create_app

    app = create_app(folder_index, embedder=embedder, watch=False)
    app.config["TESTING"] = True
    yield app.test_client()


def sources(client: FlaskClient, **params: Any) -> list[str]:
    response = client.get("/api/search", query_string={"q": "harbour tide", "k": 50, **params})
    assert response.status_code == 200, response.get_json()
    return [hit["document"]["source"] for hit in response.get_json()["results"]]


def test_path_keeps_a_folder_and_everything_below_it(folder_client: FlaskClient) -> None:
    found = sources(folder_client, path="notes")
    assert set(found) == {"notes/tides.md", "notes/2024/anchoring.txt", "notes/2024/knots.md"}
    assert set(sources(folder_client, path="notes/2024/")) == {
        "notes/2024/anchoring.txt", "notes/2024/knots.md"}
    # Repeated: either folder. A prefix is a folder, never part of a name ("note" is none).
    assert set(sources(folder_client, path=["papers", "notes/2024"])) == {
        "papers/harbour.html", "notes/2024/anchoring.txt", "notes/2024/knots.md"}
    assert sources(folder_client, path="note") == []
    assert sources(folder_client, path="Notes") == []  # case counts, as in the file system
    # A folder outside the docs folder is none of its documents'; "/" is the docs folder.
    assert sources(folder_client, path="../notes") == []
    assert len(set(sources(folder_client, path="/"))) == len(set(sources(folder_client)))


def test_type_keeps_those_file_types(folder_client: FlaskClient) -> None:
    assert set(sources(folder_client, type="md")) == {"notes/tides.md", "notes/2024/knots.md"}
    assert set(sources(folder_client, type=[".HTML", "md"])) == {
        "papers/harbour.html", "notes/tides.md", "notes/2024/knots.md"}
    assert set(sources(folder_client, type="txt", path="notes")) == {"notes/2024/anchoring.txt"}


def test_modified_after_and_before_bound_the_file_times(folder_client: FlaskClient) -> None:
    march = {"notes/2024/anchoring.txt", "notes/2024/knots.md"}  # 5 and 20 days in
    assert set(sources(folder_client, modified_after="2024-03-01",
                       modified_before="2024-04-01")) == march
    # A time with an offset is compared in UTC; "before" leaves that instant out.
    at = "2024-03-06T01:00:00+01:00"  # the anchoring file's own time, 00:00 UTC
    assert "notes/2024/anchoring.txt" not in sources(folder_client, modified_before=at)
    assert "notes/2024/anchoring.txt" in sources(folder_client, modified_after=at)
    recent = set(sources(folder_client, modified_after="2025-01-01"))
    assert recent and all(s.startswith("articles/") for s in recent)


@pytest.mark.parametrize("through_index", [False, True])
def test_a_filtered_search_still_gives_k_results_and_stable_pages(
    folder_client: FlaskClient, monkeypatch: pytest.MonkeyPatch, through_index: bool
) -> None:
    """The candidates are cut at CANDIDATES, here made fewer than the index's passages, so
    filtering the unfiltered candidates would leave fewer than k: the filter must choose
    the candidates, scoring the subset exactly or searching the vector index deeper."""
    monkeypatch.setattr("index.search.CANDIDATES", 30)
    if through_index:
        monkeypatch.setattr("index.search.EXACT_SUBSET", 0)
        monkeypatch.setattr("index.search.INDEX_SHARE", 0.0)
    for mode in ("dense", "hybrid"):
        # The five harbour notes outside articles/ are among the 30 best for this query, so
        # at most 25 of those are articles; every passage of the folder is allowed.
        whole = sources(folder_client, path="articles", k=30, mode=mode)
        assert len(whole) == 30 and all(s.startswith("articles/") for s in whole)
        pages = [sources(folder_client, path="articles", k=10, offset=o, mode=mode)
                 for o in (0, 10, 20)]
        assert [s for page in pages for s in page] == whole
        # notes/'s three passages are far from the 30 best for a query about the articles.
        response = folder_client.get("/api/search", query_string={
            "q": "Russia ready to provide Iraq military assistance like Syria", "k": 3,
            "path": "notes", "mode": mode})
        assert len(response.get_json()["results"]) == 3


def test_a_large_subset_is_searched_in_the_index_and_still_fills_k(
    folder_index: Config, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above EXACT_SUBSET the search goes through the vector index, deeper until it has
    enough of the subset: the same passages as scoring the subset exactly."""
    searcher = Searcher.open(IndexFolder(folder_index.index_dir).current(), embedder)
    request = SearchRequest("harbour tide", k=20, mode="dense", paths=("articles",))
    monkeypatch.setattr("index.search.CANDIDATES", 20)  # fewer than the index's passages
    exact = [hit.passage.id for hit in searcher.search(request).hits]
    monkeypatch.setattr("index.search.EXACT_SUBSET", 0)
    through_index = [hit.passage.id for hit in searcher.search(request).hits]
    searcher.close()
    assert EXACT_SUBSET > 0 and len(exact) == 20
    assert through_index == exact


def test_facets_count_the_candidates_documents_by_folder_and_type(
    folder_client: FlaskClient,
) -> None:
    body = folder_client.get("/api/search?q=harbour&facets=true").get_json()
    facets = body["facets"]
    folders = {f["value"]: f["documents"] for f in facets["folder"]}
    types = {t["value"]: t["documents"] for t in facets["type"]}
    # Every document is a candidate of the dense ranking in so small an index. A folder
    # counts its subfolders' documents too: the documents its filter keeps.
    assert folders == {"articles/": 5, "notes/": 3, "notes/2024/": 2, "papers/": 1}
    for folder, count in folders.items():
        assert len(set(sources(folder_client, path=folder, k=100))) == count
    assert types == {"txt": 7, "md": 2, "html": 1}
    counts = [t["documents"] for t in facets["type"]]
    assert counts == sorted(counts, reverse=True)
    # Under a filter, the counts are of what it lets through.
    narrowed = folder_client.get("/api/search?q=harbour&facets=true&type=md").get_json()
    assert {t["value"] for t in narrowed["facets"]["type"]} == {"md"}
    assert "facets" not in folder_client.get("/api/search?q=harbour").get_json()


@pytest.mark.parametrize(("params", "message"), [
    ({"type": 3}, "type must be a file type or a list of them"),
    ({"modified_after": "March 2024"}, "modified_after must be a date"),
    ({"modified_before": "2024-13-01"}, "modified_before must be a date"),
    ({"facets": "maybe"}, "facets must be true or false"),
    # Ten folders as parameters and eleven typed in q: more than the request takes.
    ({"path": [f"f{i}" for i in range(10)], "syntax": True,
      "q": " ".join(f"in:g{i}" for i in range(11)) + " harbour"}, "at most 20 folders and types"),
    ({"type": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
               "p", "q", "r", "s", "t", "u"]}, "type may be given at most 20 times"),
])
def test_bad_filters_are_400_json_errors(
    folder_client: FlaskClient, params: dict[str, Any], message: str
) -> None:
    response = folder_client.post("/api/search", json={"q": "harbour", **params})
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_a_json_body_takes_the_same_filters(folder_client: FlaskClient) -> None:
    response = folder_client.post("/api/search", json={
        "q": "harbour tide", "k": 50, "path": "notes", "type": ["md"],
        "modified_before": "2024-03-01"})
    assert [h["document"]["source"] for h in response.get_json()["results"]] == [
        "notes/tides.md"]


# --- the query syntax, in the API (syntax=true) and on the page -----------------------------


def api_sources(client: FlaskClient, q: str, **params: Any) -> list[str]:
    response = client.get("/api/search", query_string={"q": q, "k": 50, **params})
    assert response.status_code == 200, response.get_json()
    return [hit["document"]["source"] for hit in response.get_json()["results"]]


def test_the_syntax_is_read_only_when_asked(folder_client: FlaskClient) -> None:
    assert set(api_sources(folder_client, "harbour type:md", syntax="true")) == {
        "notes/tides.md", "notes/2024/knots.md"}
    assert set(api_sources(folder_client, "harbour in:notes/2024 after:2024-03-10",
                           syntax="true")) == {"notes/2024/knots.md"}
    # Without syntax=true "type:md" is two more words to rank, as it always was.
    assert len(set(api_sources(folder_client, "harbour type:md"))) > 2


def test_a_phrase_must_be_held_and_an_excluded_word_must_not(folder_client: FlaskClient) -> None:
    body = folder_client.get("/api/search", query_string={
        "q": '"neap tide" harbour', "syntax": "true", "k": 50}).get_json()
    assert [h["document"]["source"] for h in body["results"]] == ["notes/tides.md"]
    assert body["query"] == "neap tide harbour"  # the phrase's words are ranked too
    texts = [h["text"] for h in folder_client.get("/api/search", query_string={
        "q": "harbour -tide", "syntax": "true", "k": 50}).get_json()["results"]]
    assert texts and not [t for t in texts if "tide" in t.lower().split()]
    assert any("tidewater" not in t and "harbour" in t.lower() for t in texts)


@pytest.mark.parametrize(("q", "message"), [
    ('"neap tide harbour', "a quote in the query is not closed"),
    ("harbour type:", "type: needs a value"),
    ("harbour after:March", "after: must be a date"),
    ("type:md", "q needs words to search for besides its filters"),
])
def test_bad_syntax_is_a_400_with_its_reason(
    folder_client: FlaskClient, q: str, message: str
) -> None:
    response = folder_client.get("/api/search", query_string={"q": q, "syntax": "true"})
    assert response.status_code == 400 and message in response.get_json()["error"]["message"]
    shown = folder_client.get("/search", query_string={"q": q})
    assert shown.status_code == 400 and message in shown.get_data(as_text=True)


def test_the_page_offers_facets_that_narrow_and_filters_that_come_off(
    folder_client: FlaskClient,
) -> None:
    from bs4 import BeautifulSoup

    def soup(url: str) -> BeautifulSoup:
        response = folder_client.get(url)
        assert response.status_code == 200
        return BeautifulSoup(response.get_data(as_text=True), "html.parser")

    def shown_sources(page: BeautifulSoup) -> set[str]:
        return {s.get_text() for s in page.select(".hit .source")}

    first = soup("/search?q=harbour+tide")
    facets = {a.get_text(" ", strip=True): a["href"] for a in first.select(".facets a")}
    assert "notes/2024/ 2" in facets and "md 2" in facets
    narrowed = soup(facets["notes/2024/ 2"])
    assert shown_sources(narrowed) == {"notes/2024/anchoring.txt", "notes/2024/knots.md"}
    # The filter is shown, kept by the box (a hidden field) and by the mode links.
    [chip] = narrowed.select(".filters.active a")
    assert chip.get_text(" ", strip=True) == "in notes/2024/ ×"
    assert narrowed.select_one('header input[name="path"]')["value"] == "notes/2024/"
    assert all("path=notes" in a["href"] for a in narrowed.select(".modes a"))
    twice = soup(next(a["href"] for a in narrowed.select(".facets a")
                      if a.get_text().startswith("md")))
    assert shown_sources(twice) == {"notes/2024/knots.md"}
    # Taking the filter off: the first search again.
    removed = soup(chip["href"])
    assert shown_sources(removed) == shown_sources(first)
    # Each folder's link keeps the documents its number says: notes/ counts notes/2024/'s.
    assert "notes/ 3" in facets
    assert len(shown_sources(soup(facets["notes/ 3"]))) == 3
    # Under a folder filter, given or typed, a subfolder's link searches it alone (folders
    # are "either": added to notes/, it would narrow nothing); notes/ itself is not offered.
    for url in ("/search?q=harbour+tide&path=notes", "/search?q=harbour+tide+in:notes/"):
        within = {a.get_text(" ", strip=True): a["href"]
                  for a in soup(url).select(".facets a")}
        assert "notes/2024/ 2" in within and not any(f.startswith("notes/ ") for f in within)
        assert shown_sources(soup(within["notes/2024/ 2"])) == {
            "notes/2024/anchoring.txt", "notes/2024/knots.md"}
    # A filter typed in the box comes off the same way, and the box keeps the rest.
    typed = soup("/search?q=harbour+type:md+-bowline")
    assert shown_sources(typed) == {"notes/tides.md"}
    chips = {a.get_text(" ", strip=True): a["href"] for a in typed.select(".filters.active a")}
    assert set(chips) == {"type:md ×", "-bowline ×"}
    assert shown_sources(soup(chips["-bowline ×"])) == {"notes/tides.md", "notes/2024/knots.md"}
    assert typed.select_one('header input[name="q"]')["value"] == "harbour type:md -bowline"
