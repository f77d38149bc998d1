"""A replaced searcher is closed, with its files, once the last request using it is done:
reloads do not pile up open files, and a search in flight during a swap still completes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from flask import Flask

from index import Config, Embedder, IndexFolder, build_index
from index.request import SearchRequest
from service import create_app
from service.state import LiveIndex, get_searcher

RELOADS = 20
THREADS = 3  # each request thread opens its own SQLite connection to a generation


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def point_current_to(config: Config, generation: str) -> None:
    (Path(config.index_dir) / "CURRENT").write_text(generation + "\n")


@pytest.fixture
def two_generations(config: Config, embedder: Embedder) -> tuple[str, str]:
    first = build_index(config, embedder=embedder).generation
    Path(config.docs_dir, "tulips.txt").write_text(
        "Tulip festival\n\nThe tulip festival in Amsterdam draws crowds every April.\n"
    )
    second = build_index(config, embedder=embedder).generation
    assert first and second and first != second
    assert {p.name for p in IndexFolder(config.index_dir).published()} >= {first, second}
    return first, second


def search_from_threads(app: Flask) -> None:
    """One search on each of THREADS new threads, as the request threads of a server do."""
    failures: list[BaseException] = []

    def search() -> None:
        try:
            response = app.test_client().get("/api/search?q=tulip+festival&k=3")
            assert response.status_code == 200, response.get_json()
        except BaseException as e:  # noqa: BLE001 - reported below, from the test's thread
            failures.append(e)

    threads = [threading.Thread(target=search) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


def test_reloads_do_not_pile_up_open_files(
    config: Config, embedder: Embedder, two_generations: tuple[str, str]
) -> None:
    app = create_app(config, embedder=embedder, watch=False)
    live: LiveIndex = app.extensions["live_index"]
    # One round each way first, so that every lazily opened library file is already open.
    for generation in (*two_generations, *two_generations):
        point_current_to(config, generation)
        assert live.refresh()
        search_from_threads(app)
    before = open_files()

    for reload in range(RELOADS):
        point_current_to(config, two_generations[reload % 2])
        assert live.refresh()
        search_from_threads(app)
        app.test_client().get("/search?q=tulip")  # the page, on this thread
        assert live.searcher is not None and live.searcher.generation == two_generations[
            reload % 2
        ]

    assert open_files() <= before


def test_a_search_in_flight_during_a_swap_completes_then_its_searcher_closes(
    config: Config, embedder: Embedder, two_generations: tuple[str, str]
) -> None:
    first, second = two_generations
    point_current_to(config, first)
    app = create_app(config, embedder=embedder, watch=False)
    live: LiveIndex = app.extensions["live_index"]

    # An app context is what a request runs in: the searcher is leased until it ends.
    with app.app_context():
        in_flight = get_searcher()
        assert in_flight.generation == first
        point_current_to(config, second)
        assert live.refresh()  # swapped while the request still holds the old searcher
        assert get_searcher() is in_flight  # the same one to the request's end
        hits = in_flight.search(SearchRequest("tulip festival", k=3)).hits
        assert hits and all(hit.passage.document_id != "tulips" for hit in hits)
        other_thread: list[str] = []
        thread = threading.Thread(
            target=lambda: other_thread.append(
                in_flight.search(SearchRequest("tulip festival", k=1)).hits[0].passage.id
            )
        )
        thread.start()
        thread.join()
        assert other_thread  # its other threads' connections too, until the end

    with pytest.raises(RuntimeError, match=f"searcher of generation {first} is closed"):
        in_flight.search(SearchRequest("tulip festival"))
    with app.app_context():
        assert get_searcher().generation == second
        hits = get_searcher().search(SearchRequest("tulip festival", k=1)).hits
        assert hits[0].passage.document_id == "tulips"


def test_a_replaced_searcher_nobody_uses_closes_at_once(
    config: Config, embedder: Embedder, two_generations: tuple[str, str]
) -> None:
    first, second = two_generations
    point_current_to(config, first)
    app = create_app(config, embedder=embedder, watch=False)
    live: LiveIndex = app.extensions["live_index"]
    old = live.searcher
    assert old is not None

    point_current_to(config, second)
    assert live.refresh()

    with pytest.raises(RuntimeError, match="is closed"):
        old.search(SearchRequest("tulip festival"))
