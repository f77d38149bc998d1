"""The JSON API contract, through the Flask test client on an index of the sample corpus."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from index.documents import iso_utc

ROOT = Path(__file__).resolve().parent.parent


def search(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["passage_id"] for hit in body["results"]]


def test_search_response_has_the_documented_shape(client: FlaskClient) -> None:
    body = search(client, q="who speaks for the Russian foreign ministry")
    assert list(body) == ["query", "mode", "k", "offset", "took_ms", "weak", "index", "results"]
    assert body["weak"] is False
    assert body["query"] == "who speaks for the Russian foreign ministry"
    assert (body["mode"], body["k"], body["offset"]) == ("hybrid", 10, 0)
    assert isinstance(body["took_ms"], float) and body["took_ms"] > 0
    assert set(body["index"]) == {"generation", "model", "built_at"}
    assert body["index"]["model"] == "all-MiniLM-L6-v2"
    assert len(body["results"]) == 10
    assert [hit["rank"] for hit in body["results"]] == list(range(1, 11))
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)
    hit = body["results"][0]
    assert list(hit) == ["rank", "score", "passage_id", "text", "start", "end", "highlights",
                         "section", "page", "last_page", "ocr", "part", "author", "document"]
    assert hit["highlights"] == []  # only when asked for
    # Plain-text articles have no headings and no pages. The answer is in a reader's comment
    # (quoting a news agency), under the page's "• Anonymous" line.
    assert (hit["section"], hit["page"], hit["last_page"], hit["ocr"]) == ([], None, None, False)
    assert (hit["part"], hit["author"]) == ("comment", "Anonymous")
    assert set(hit["document"]) == {"id", "title", "source", "url", "page_kind", "date",
                                    "author"}
    assert hit["document"]["page_kind"] is None
    # The blog post states its date ("Originally posted Fri Jul 16th, 2004"), no byline.
    assert hit["document"]["id"] == "000_d5f4f69b644cfd4d"
    assert (hit["document"]["date"], hit["document"]["author"]) == ("2004-07-16", None)
    assert hit["document"]["source"] == hit["document"]["id"] + ".txt"
    assert hit["document"]["url"] == f"/documents/{hit['document']['id']}#p-{hit['passage_id']}"
    assert 0 <= hit["start"] < hit["end"]


def test_passage_offsets_point_into_the_document(client: FlaskClient) -> None:
    hit = search(client, q="S-300 deliveries to Iran and Syria", k=1)["results"][0]
    document = client.get(f"/api/documents/{hit['document']['id']}").get_json()
    assert " ".join(document["text"][hit["start"] : hit["end"]].split()) == hit["text"]
    assert {"id": hit["passage_id"], "start": hit["start"], "end": hit["end"], "section": [],
            "page": None, "last_page": None, "ocr": False, "part": hit["part"],
            **({"author": hit["author"]} if hit["part"] == "comment" else {})
            } in document["passages"]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_answers(client: FlaskClient, mode: str) -> None:
    body = search(client, q="Russian troops in Iraq", mode=mode, k=5)
    assert body["mode"] == mode
    assert len(body["results"]) == 5


def test_lexical_mode_finds_exact_words(client: FlaskClient) -> None:
    body = search(client, q="Yakovenko", mode="lexical")
    assert len(body["results"]) == 2  # the two passages that name him, nothing else
    assert "Alexander Yakovenko" in body["results"][0]["text"]
    assert all("Yakovenko" in hit["text"] for hit in body["results"])


def test_lexical_mode_finds_a_place_by_its_adjective(client: FlaskClient) -> None:
    body = search(client, q="Chinese", mode="lexical")  # the corpus only ever says "China"
    assert body["results"]
    assert all("China" in hit["text"] for hit in body["results"])


def test_k_limits_the_results(client: FlaskClient) -> None:
    assert len(search(client, q="Iraq", k=1)["results"]) == 1
    assert len(search(client, q="Iraq", k=100)["results"]) == 100


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_pages_are_stable(client: FlaskClient, mode: str) -> None:
    whole = search(client, q="Russia and Iraq military cooperation", k=30, mode=mode)
    pages = [
        search(client, q="Russia and Iraq military cooperation", k=10, offset=o, mode=mode)
        for o in (0, 10, 20)
    ]
    assert [pid for page in pages for pid in ids(page)] == ids(whole)
    assert [hit["rank"] for hit in pages[1]["results"]] == list(range(11, 21))


def test_offset_past_the_end_gives_no_results(client: FlaskClient) -> None:
    assert search(client, q="Iraq", offset=1000)["results"] == []


def test_doc_filter_returns_k_passages_of_those_documents(client: FlaskClient) -> None:
    wanted = ["003_4783bc61b2fd86ea", "001_e4d6116a5cfa59ae"]
    body = search(client, q="Putin", doc=wanted, k=20, mode="dense")
    documents = {hit["document"]["id"] for hit in body["results"]}
    assert documents <= set(wanted)
    # These two documents have at least 20 passages between them: a filtered query is
    # answered from the subset, not by filtering a global top-k.
    assert len(body["results"]) == 20
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)
    one = search(client, q="Putin", doc="004_b6556f2a56b03e86", mode="hybrid")
    assert {hit["document"]["id"] for hit in one["results"]} == {"004_b6556f2a56b03e86"}


def test_unknown_doc_filter_matches_nothing(client: FlaskClient) -> None:
    assert search(client, q="Iraq", doc="no-such-document")["results"] == []


def test_post_takes_the_same_fields(client: FlaskClient) -> None:
    fields = {"q": "Chinese construction deals in Iraq", "k": 3, "offset": 2, "mode": "dense"}
    posted = client.post("/api/search", json={**fields, "doc": ["002_56ad20256a752cea"]})
    assert posted.status_code == 200
    got = search(client, **fields, doc="002_56ad20256a752cea")
    assert ids(posted.get_json()) == ids(got)
    assert [hit["rank"] for hit in got["results"]] == [3, 4, 5]


def test_explain_gives_both_rankings(client: FlaskClient) -> None:
    body = search(client, q="who speaks for the Russian foreign ministry", explain="true", k=5)
    for hit in body["results"]:
        explain = hit["explain"]
        assert set(explain) == {"dense_score", "dense_rank", "lexical_score", "lexical_rank",
                                "fused_score"}
        assert explain["fused_score"] == pytest.approx(hit["score"], abs=1e-6)
        assert explain["dense_rank"] is not None or explain["lexical_rank"] is not None
    plain = search(client, q="who speaks for the Russian foreign ministry", k=5)
    assert "explain" not in plain["results"][0]


def test_alpha_moves_hybrid_between_lexical_and_dense(client: FlaskClient) -> None:
    # Among article passages (hybrid also lets an article win a near tie with a comment,
    # which the single modes do not), alpha=1 ranks as dense does and alpha=0 as lexical.
    query, part = "who speaks for the Russian foreign ministry", "article"
    dense = ids(search(client, q=query, mode="dense", part=part))
    assert ids(search(client, q=query, alpha=1, part=part)) == dense
    lexical = ids(search(client, q=query, mode="lexical", part=part))
    assert ids(search(client, q=query, alpha=0, part=part)) == lexical != dense


def test_a_paraphrase_that_only_its_meaning_matches_is_found(client: FlaskClient) -> None:
    # The answer, "the political will of Iraqi leadership to approve this assistance", is
    # the passage nearest the query in meaning by far, and shares none of its words; BM25's
    # matches of "Baghdad" and "government" are many and close. The dense weight, adapted to
    # the query, puts it second; at the fixed weight of 0.5 (alpha given) it was eighth.
    query = "it is up to the government in Baghdad whether to accept the help"
    answer = "political will of Iraqi leadership"
    adapted = [hit["text"] for hit in search(client, q=query, k=10)["results"]]
    fixed = [hit["text"] for hit in search(client, q=query, k=10, alpha=0.5)["results"]]
    assert any(answer in text for text in adapted[:2])
    assert not any(answer in text for text in fixed[:5])


def test_group_by_document_gives_one_hit_per_document(client: FlaskClient) -> None:
    body = search(client, q="Russia Iraq military", group="doc", k=10)
    documents = [hit["document"]["id"] for hit in body["results"]]
    assert len(documents) == len(set(documents)) == 5  # the sample corpus has five
    assert all(hit["other_matches"] >= 0 for hit in body["results"])
    assert sum(hit["other_matches"] for hit in body["results"]) > 0
    best = search(client, q="Russia Iraq military", k=1)["results"][0]
    assert body["results"][0]["passage_id"] == best["passage_id"]


def test_unrelated_query_is_flagged_weak(client: FlaskClient) -> None:
    assert search(client, q="recipe for chocolate chip cookies")["weak"] is True
    assert search(client, q="recipe for chocolate chip cookies", mode="dense")["weak"] is True
    assert search(client, q="Russian troops sent to Iraq")["weak"] is False
    # A short keyword query embeds poorly, but a passage holding all its words is no weak match.
    assert search(client, q="street vendor")["weak"] is False
    assert search(client, q="zzyzx qwerty", mode="lexical")["weak"] is True


def test_document_endpoint(client: FlaskClient) -> None:
    response = client.get("/api/documents/001_e4d6116a5cfa59ae")
    assert response.status_code == 200
    document = response.get_json()
    assert list(document) == ["id", "title", "source", "date", "author", "type", "size",
                              "modified", "page_count", "text", "passages"]
    assert document["page_count"] is None  # a text file has no pages
    assert (document["date"], document["author"]) == (None, None)  # this text states none
    # The sample blog post states its date ("Originally posted Fri Jul 16th, 2004 ...").
    assert client.get("/api/documents/000_d5f4f69b644cfd4d").get_json()["date"] == "2004-07-16"
    path = ROOT / "corpus" / "001_e4d6116a5cfa59ae.txt"
    assert (document["type"], document["size"]) == ("txt", path.stat().st_size)
    assert document["modified"] == iso_utc(path.stat().st_mtime)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["modified"])
    assert document["title"].startswith("Russia Is Ready To Provide Iraq With Syria-like")
    starts = [p["start"] for p in document["passages"]]
    assert starts == sorted(starts) and len(starts) > 10
    assert all(set(p) - {"author"} == {"id", "start", "end", "section", "page", "last_page",
                                       "ocr", "part"} for p in document["passages"])


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["index"]["passages"] > 50


def test_openapi_document_describes_the_api(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/search", "/api/documents/{id}", "/healthz", "/readyz"} <= set(spec["paths"])
    names = [p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]]
    assert names == ["q", "k", "offset", "mode", "doc", "path", "type", "modified_after",
                     "modified_before", "part", "alpha", "explain", "group", "facets",
                     "syntax", "highlights"]
    highlights = spec["components"]["schemas"]["Hit"]["properties"]["highlights"]
    assert highlights["items"]["required"] == ["start", "end"]


# Bad requests, one row per case: tests/test_bad_requests.py.


def test_no_index_means_503(tmp_path: Any, embedder: Any) -> None:
    from index import Config
    from service import create_app

    app = create_app(Config(index_dir=tmp_path / "empty"), embedder=embedder, watch=False)
    client = app.test_client()
    for url in ("/api/search?q=x", "/readyz", "/api/documents/x"):
        response = client.get(url)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def test_every_response_carries_security_headers(client: FlaskClient) -> None:
    for url in ("/", "/api/search?q=Iraq", "/api/search", "/no-such-page"):
        headers = client.get(url).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_part_filters_article_or_comment_passages(client: FlaskClient, mode: str) -> None:
    everything = search(client, q="Russian troops in Iraq", mode=mode, k=50)["results"]
    assert {hit["part"] for hit in everything} == {"article", "comment"}
    for part in ("article", "comment"):
        body = search(client, q="Russian troops in Iraq", mode=mode, k=50, part=part)
        assert body["results"] and {hit["part"] for hit in body["results"]} == {part}
        if mode != "hybrid":  # (hybrid normalises scores over what it ranks: they shift)
            # The same passages in the same order as the unfiltered ranking has them.
            ranked = [hit["passage_id"] for hit in everything if hit["part"] == part]
            kept = [hit["passage_id"] for hit in body["results"]]
            assert kept[: len(ranked)] == ranked
    posted = client.post("/api/search", json={"q": "troops", "part": "comment", "k": 3})
    assert {hit["part"] for hit in posted.get_json()["results"]} == {"comment"}
    bad = client.get("/api/search", query_string={"q": "troops", "part": "furniture"})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["message"] == "part must be one of article, comment"


def test_a_topic_query_opens_with_the_article_not_a_comment_that_ties_it(
    client: FlaskClient
) -> None:
    """A one-line comment ("Are these 40,000 troops to safeguard Russian controlled oil
    wells in Iraq?") matches a topic query as closely as the article's opening: without the
    margin it ranks first by 0.002. A comment still leads when it scores clearly higher."""
    from index.search import COMMENT_MARGIN

    hits = search(client, q="Russian troops in Iraq", k=10)["results"]
    assert hits[0]["part"] == "article"
    assert hits[0]["text"].startswith("Russia To Send Troops To Iraq? 40,000 troops")
    [tie] = [hit for hit in hits if "safeguard Russian controlled oil wells" in hit["text"]]
    assert tie["part"] == "comment" and tie["rank"] == 2
    assert tie["score"] + COMMENT_MARGIN > hits[0]["score"]  # it led by less than the margin
    assert [hit["part"] for hit in hits[:5]].count("article") == 4
    # A question a comment answers still finds the comment first.
    answered = search(client, q="commenter asks whether the troops would guard oil wells "
                                "controlled by Russia", k=1)["results"][0]
    assert answered["part"] == "comment" and "safeguard" in answered["text"]


# --- highlights: the sentences that answer ---------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_highlights_are_whole_sentences_of_each_hit(client: FlaskClient, mode: str) -> None:
    from index.chunking import sentence_spans

    body = search(client, q="Russian air defence systems for Syria", mode=mode, highlights="true")

    assert body["results"]
    for hit in body["results"]:
        spans = [(h["start"], h["end"]) for h in hit["highlights"]]
        assert set(hit["highlights"][0]) == {"start", "end"}
        assert 1 <= len(spans) <= 2
        assert spans == sorted(spans)
        assert all(end < start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))
        assert all(0 <= start < end <= len(hit["text"]) for start, end in spans)
        assert set(spans) <= set(sentence_spans(hit["text"]))


def test_highlights_mark_the_sentence_that_answers(client: FlaskClient) -> None:
    query = "commenter says US dollars were sent to Iraqi banks to be stolen and buy loyalty"
    hit = search(client, q=query, highlights="true")["results"][0]

    marked = [hit["text"][h["start"] : h["end"]] for h in hit["highlights"]]
    assert marked == [sentence for sentence in marked if "wood pallets" in sentence]
    assert len(marked) == 1 and len(marked[0]) < len(hit["text"]) / 2
    # A passage of one sentence: that sentence.
    body = search(client, q="who speaks for the Russian foreign ministry", highlights="true")
    spokesman = next(h for h in body["results"] if "Alexander Yakovenko" in h["text"])
    assert spokesman["highlights"] == [{"start": 0, "end": len(spokesman["text"])}]


def test_highlights_are_off_unless_asked_for_and_can_be_turned_off(client: FlaskClient) -> None:
    query = "who speaks for the Russian foreign ministry"
    for off in ({}, {"highlights": "false"}, {"highlights": "0"}):
        assert all(hit["highlights"] == [] for hit in search(client, q=query, **off)["results"])
    posted = client.post("/api/search", json={"q": query, "k": 3, "highlights": True})
    assert posted.status_code == 200
    assert all(hit["highlights"] for hit in posted.get_json()["results"])
    # The same hits either way: marking never changes the ranking.
    assert ids(search(client, q=query, highlights="true")) == ids(search(client, q=query))


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_a_bad_highlights_value_is_a_400(client: FlaskClient, value: str) -> None:
    response = client.get("/api/search", query_string={"q": "iraq", "highlights": value})

    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "highlights must be true or false"
    posted = client.post("/api/search", json={"q": "iraq", "highlights": "maybe"})
    assert posted.status_code == 400
    assert posted.get_json()["error"]["message"] == "highlights must be true or false"
