"""Narrowing a search by folder, file type and modification time, and counting the
candidates' documents by folder and type (facets): the real app over a real index of a
folder with subfolders and several formats."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from index import Config, Embedder, IndexFolder, Searcher, SearchRequest, build_index
from index.search import EXACT_SUBSET

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MARCH = 1_709_251_200  # 2024-03-01T00:00:00Z
DAY = 86_400

# Each file: its text, and how many days after March 1st 2024 it was last modified.
FILES = {
    "notes/tides.md": ("# Tides\n\nHigh water at the harbour comes twice a day; the neap "
                       "tide is the smallest.", -10),
    "notes/2024/anchoring.txt": ("Anchoring\n\nDrop the anchor in sand, never on weed; let "
                                 "out five times the depth of chain.", 5),
    "notes/2024/knots.md": ("# Knots\n\nThe bowline makes a fixed loop that will not slip "
                            "when the rope is loaded.", 20),
    "papers/harbour.html": ("<html><head><title>Harbour report</title></head><body><h1>"
                            "Harbour report</h1><p>The harbour wall was rebuilt after the "
                            "winter storms; mooring fees rose.</p></body></html>", 40),
    "notebook.txt": ("Notebook\n\nA grey heron waits in the reeds by the harbour at low "
                     "tide.", 60),
}


@pytest.fixture(scope="module")
def folder_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Config:
    root = tmp_path_factory.mktemp("filters")
    docs = root / "docs"
    for name, (text, days) in FILES.items():
        path = docs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (MARCH + days * DAY, MARCH + days * DAY))
    shutil.copytree(CORPUS, docs / "articles")  # five more .txt, modified now
    config = Config(docs_dir=docs, index_dir=root / "index")
    build_index(config, embedder=embedder)
    return config


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


def test_a_filtered_search_still_gives_k_results_and_stable_pages(
    folder_client: FlaskClient,
) -> None:
    # Every passage of the articles folder is allowed; the query is about none of them.
    whole = sources(folder_client, path="articles", k=30, mode="dense")
    assert len(whole) == 30 and all(s.startswith("articles/") for s in whole)
    pages = [sources(folder_client, path="articles", k=10, offset=o, mode="dense")
             for o in (0, 10, 20)]
    assert [s for page in pages for s in page] == whole


def test_a_large_subset_is_searched_in_the_index_and_still_fills_k(
    folder_index: Config, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above EXACT_SUBSET the search goes through the vector index, deeper until it has
    enough of the subset: the same passages as scoring the subset exactly."""
    searcher = Searcher.open(IndexFolder(folder_index.index_dir).current(), embedder)
    request = SearchRequest("harbour tide", k=20, mode="dense", paths=("articles",))
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
    # Every document is a candidate of the dense ranking in so small an index.
    assert folders == {"articles/": 5, "notes/": 1, "notes/2024/": 2, "papers/": 1, "": 1}
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
    ({"type": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
               "p", "q", "r", "s", "t", "u"]}, "at most 20 folders and types"),
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
