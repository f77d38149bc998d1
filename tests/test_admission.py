"""Bounded work per search: the lane for expensive searches, the full-text term cap and
time limit. Real threads, the real app and real SQLite."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from index import QueryTimeoutError
from index.chunking import Passage
from index.documents import Document
from index.lexical import query_terms
from index.store import MAX_QUERY_TERMS, PassageStore, PassageStoreWriter
from service.admission import Lane, OverloadedError


def test_a_full_lane_refuses_at_once_and_a_waiting_search_gets_the_freed_place() -> None:
    lane = Lane(running=1, waiting=1, wait_seconds=5)
    release, inside = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def hold() -> None:
        with lane.enter():
            inside.set()
            release.wait(5)

    def wait_for_a_place() -> None:
        with lane.enter():
            outcomes.append("placed")

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    waiter = threading.Thread(target=wait_for_a_place)
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting now: the lane is full
    started = time.perf_counter()
    with pytest.raises(OverloadedError), lane.enter():
        pass
    assert time.perf_counter() - started < 0.1  # refused without waiting
    release.set()
    holder.join(5)
    waiter.join(5)
    assert outcomes == ["placed"]


def test_a_search_that_waits_too_long_is_refused() -> None:
    lane = Lane(running=0, waiting=1, wait_seconds=0.1)
    with pytest.raises(OverloadedError), lane.enter():
        pass


@pytest.mark.parametrize(
    "query",
    ["q=russia&k=50", "q=russia&offset=500", "q=russia&group=doc", "q=russia&explain=true",
     "q=" + "word+" * 60],
)
def test_expensive_searches_get_503_with_retry_after_when_their_lane_is_full(
    app: Flask, query: str
) -> None:
    app.extensions["heavy_lane"] = Lane(running=0, waiting=0, wait_seconds=0)
    client = app.test_client()
    refused = client.get(f"/api/search?{query}")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "too many expensive searches at once" in refused.get_json()["error"]["message"]
    assert client.get(f"/search?{query}").status_code == 503  # the page shares the lane
    assert client.get("/api/search?q=russia&k=10").status_code == 200  # others are not held


def store_of(tmp_path: Path, texts: list[str]) -> PassageStore:
    path = tmp_path / "passages.sqlite"
    writer = PassageStoreWriter(path)
    for i, text in enumerate(texts):
        document = Document(f"d{i}", f"D{i}", f"d{i}.txt", text, f"{i:064x}")
        writer.add(document, [(f"p{i}", Passage(0, len(text), text))])
    writer.finish()
    return PassageStore.open(path)


def test_only_the_first_distinct_terms_of_a_query_are_searched(tmp_path: Path) -> None:
    store = store_of(tmp_path, ["zebra crossing", "walrus tusk"])
    filler = [f"filler{i}" for i in range(MAX_QUERY_TERMS)]
    assert store.lexical_search(query_terms(" ".join(["zebra", *filler])), 10) != []
    assert store.lexical_search(query_terms(" ".join([*filler, "zebra"])), 10) == []


def test_a_full_text_search_past_its_time_limit_is_a_timeout(tmp_path: Path) -> None:
    store = store_of(tmp_path, [f"common words in passage number {i}" for i in range(20_000)])
    terms = query_terms("common words passage")
    assert len(store.lexical_search(terms, 5000)) == 5000
    with pytest.raises(QueryTimeoutError, match="took longer than 0 s"):
        store.lexical_search(terms, 5000, seconds=0)
    assert len(store.lexical_search(terms, 10)) == 10  # the limit is lifted
