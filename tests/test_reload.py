"""Publishing a generation while the service answers: no failed request, then new results."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from index import Config, Embedder, IndexFolder, build_index
from service import create_app


@pytest.fixture
def served(config: Config, embedder: Embedder) -> Iterator[tuple[str, Config]]:
    """The app over HTTP on a free loopback port, checking for new generations every 0.2 s."""
    config = dataclasses.replace(config, reload_interval=0.2)
    build_index(config, embedder=embedder)
    app = create_app(config, embedder=embedder)
    # Werkzeug's threaded server, because it can be shut down cleanly from another thread.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", config
    app.extensions["live_index"].stop()
    server.shutdown()
    thread.join(timeout=5)


def get_json(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll ``condition`` until it holds; the deadline only ends a hung test, however slow."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout:g} s, still no {what}"
        time.sleep(0.02)


def test_new_generation_is_served_without_a_failed_request(
    served: tuple[str, Config], embedder: Embedder
) -> None:
    base, config = served
    query = urllib.parse.quote("tulip festival in Amsterdam")
    old_generation = IndexFolder(config.index_dir).current().name
    statuses: Counter[int] = Counter()
    # Per client: requests of different clients run in parallel and may finish out of order.
    seen: list[list[str]] = [[] for _ in range(3)]
    stop = threading.Event()

    def hammer(generations: list[str]) -> None:
        while not stop.is_set():
            status, body = get_json(f"{base}/api/search?q={query}&k=3")
            statuses[status] += 1
            if status == 200:
                generations.append(body["index"]["generation"])

    clients = [threading.Thread(target=hammer, args=(generations,)) for generations in seen]
    for client in clients:
        client.start()
    wait_until(lambda: all(len(g) >= 3 for g in seen), "three answers for every client")
    Path(config.docs_dir, "tulips.txt").write_text(
        "Tulip festival\n\nThe tulip festival in Amsterdam draws crowds to the flower fields "
        "every April, when the bulbs bloom in long coloured stripes.\n"
    )
    new_generation = build_index(config, embedder=embedder).generation
    wait_until(lambda: all(g[-1] == new_generation for g in seen),
               "every client answered from the new generation")
    switched_at = [len(g) for g in seen]
    wait_until(lambda: all(len(g) >= n + 3 for g, n in zip(seen, switched_at, strict=True)),
               "three more answers for every client after its switch")
    stop.set()
    for client in clients:
        client.join()

    assert set(statuses) == {200}, statuses
    for generations in seen:
        assert generations[0] == old_generation
        assert generations[-1] == new_generation
        # Once switched, never back: each request sees one whole generation.
        switched = generations.index(new_generation)
        assert set(generations[switched:]) == {new_generation}
    status, body = get_json(f"{base}/api/search?q={query}&k=3")
    assert body["results"][0]["document"]["id"] == "tulips"


def test_a_broken_generation_is_refused_and_the_old_one_kept(
    config: Config, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    good = build_index(config, embedder=embedder).generation
    app = create_app(config, embedder=embedder, watch=False)
    live = app.extensions["live_index"]
    client = app.test_client()

    Path(config.docs_dir, "extra.txt").write_text("An extra document about something new.\n")
    broken = build_index(config, embedder=embedder).generation
    assert broken is not None
    faiss_file = IndexFolder(config.index_dir).current() / "vectors.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])

    assert live.refresh() is False
    assert f"refused generation {broken}, still serving {good}" in caplog.text
    assert "vectors.faiss is missing or truncated" in caplog.text
    assert client.get("/readyz").get_json()["index"]["generation"] == good
    assert client.get("/api/search?q=Iraq").status_code == 200
    assert live.refresh() is False  # refused once, not retried on every check

    Path(config.docs_dir, "extra.txt").write_text("The extra document, fixed and rebuilt.\n")
    fixed = build_index(config, embedder=embedder).generation
    assert live.refresh() is True
    assert client.get("/readyz").get_json()["index"]["generation"] == fixed
