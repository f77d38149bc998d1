"""More like this: /api/passages/<id>/similar and its page, through the Flask test client on
an index of the sample corpus (real model vectors, real FAISS)."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask.testing import FlaskClient

from service.state import get_searcher


def similar(client: FlaskClient, passage_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/passages/{passage_id}/similar", query_string=params)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def first_hit(client: FlaskClient, query: str) -> dict[str, Any]:
    hit: dict[str, Any] = client.get("/api/search", query_string={"q": query}).get_json()[
        "results"][0]
    return hit


def test_similar_passages_are_other_documents_nearest_by_the_stored_vector(
    client: FlaskClient,
) -> None:
    like = first_hit(client, "Iraq buys S-300 air defence systems from Russia")
    body = similar(client, like["passage_id"])
    assert list(body) == ["like", "mode", "k", "offset", "took_ms", "index", "results"]
    assert body["like"]["passage_id"] == like["passage_id"]
    assert body["like"]["document"]["title"] == like["document"]["title"]
    hits = body["results"]
    assert len(hits) == 10 and [h["rank"] for h in hits] == list(range(1, 11))
    assert all(h["document"]["id"] != like["document"]["id"] for h in hits)
    # The scores are the cosines of the stored vectors, best first.
    with client.application.app_context():
        searcher = get_searcher()
        store = searcher._store()
        rowids = [store.passage_by_id(i).rowid for i in  # type: ignore[union-attr]
                  [like["passage_id"], *(h["passage_id"] for h in hits)]]
        vectors = searcher._vectors.vectors(np.asarray(rowids, dtype=np.int64))
    cosines = vectors[1:] @ vectors[0]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert np.allclose([h["score"] for h in hits], cosines, atol=1e-3)


def test_same_document_adds_its_own_documents_passages_but_never_itself(
    client: FlaskClient,
) -> None:
    like = first_hit(client, "Russia To Send Troops To Iraq")
    hits = similar(client, like["passage_id"], same_document="true", k=50)["results"]
    assert like["passage_id"] not in [h["passage_id"] for h in hits]
    assert any(h["document"]["id"] == like["document"]["id"] for h in hits)


def test_k_results_however_many_passages_its_own_document_has(client: FlaskClient) -> None:
    """000 has most of the corpus's passages: leaving them out still leaves k results, and
    pages of them join up into the whole list."""
    like = first_hit(client, "Russia To Send Troops To Iraq")
    assert like["document"]["id"] == "000_d5f4f69b644cfd4d"
    whole = similar(client, like["passage_id"], k=40)["results"]
    assert len(whole) == 40
    pages = [similar(client, like["passage_id"], k=10, offset=o)["results"]
             for o in (0, 10, 20, 30)]
    assert [h["passage_id"] for page in pages for h in page] == [h["passage_id"] for h in whole]
    assert [h["rank"] for h in pages[1]] == list(range(11, 21))


def test_bad_requests_are_4xx_json_errors(client: FlaskClient) -> None:
    like = first_hit(client, "Iraq")["passage_id"]
    for path, status in [
        ("/api/passages/0000000000000000/similar", 404),
        (f"/api/passages/{like}/similar?k=0", 400),
        (f"/api/passages/{like}/similar?k=101", 400),
        (f"/api/passages/{like}/similar?k=5&k=6", 400),
        (f"/api/passages/{like}/similar?same_document=maybe", 400),
        (f"/api/passages/{like}/similar?q=iraq", 400),
    ]:
        response = client.get(path)
        assert response.status_code == status, path
        assert set(response.get_json()) >= {"error"}, path


def test_the_results_page_links_every_hit_to_more_like_it(client: FlaskClient) -> None:
    page = client.get("/search", query_string={"q": "Russian troops in Iraq"})
    html = page.get_data(as_text=True)
    like = first_hit(client, "Russian troops in Iraq")["passage_id"]
    assert html.count(">more like this</a>") == 10
    assert f'href="/passages/{like}/similar"' in html
    shown = client.get(f"/passages/{like}/similar")
    assert shown.status_code == 200
    text = shown.get_data(as_text=True)
    assert "More like this passage" in text and text.count(">more like this</a>") == 10
    assert client.get("/passages/0000000000000000/similar").status_code == 404
