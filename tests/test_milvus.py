"""Vectors in a real Milvus: a Milvus 2.3 server started here (tests/milvus_server.py) and a
Milvus Lite file. Same answers as FAISS, atomic publishing through the alias, the model
guard in the collection, old and leftover collections dropped, two service processes on
one index."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient

from index import BuildError, Config, Embedder, IndexFolder, IndexMismatchError, build_index
from index.generations import read_manifest
from index.request import SearchRequest
from index.search import Searcher
from index.vectors import open_vector_index
from index.vectors.milvus import MilvusStore
from tests.milvus_server import milvus_server
from tests.processes import free_ports

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "eval" / "seed_dev_queries.jsonl"
QUERIES = [json.loads(line)["q"] for line in SEEDS.read_text().splitlines()] + [
    "tax cuts", "football", "climate", "Iraq war veterans"
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus server for this module, as "host:port"."""
    with milvus_server(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri.removeprefix("http://")


@pytest.fixture
def milvus(server: str, request: pytest.FixtureRequest) -> str:
    """A vector_store value of this test's own: its own alias and collections."""
    return f"milvus://{server}/{request.node.name.split('[')[0]}"


def client_of(server: str) -> MilvusClient:
    return MilvusClient(uri=f"http://{server}")


def ranking(searcher: Searcher, query: str, **options: Any) -> list[tuple[str, float]]:
    hits = searcher.search(SearchRequest(query, k=10, **options)).hits
    return [(h.passage.id, h.score) for h in hits]


def same_rankings(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """The same passages in the same order, scores equal to float rounding."""
    return [p for p, _ in a] == [p for p, _ in b] and np.allclose(
        [s for _, s in a], [s for _, s in b], atol=1e-5
    )


@pytest.mark.parametrize("kind", ["server", "lite"])
def test_exact_milvus_ranks_like_faiss(
    kind: str, milvus: str, sample_index: Config, embedder: Embedder, tmp_path: Path
) -> None:
    store = milvus if kind == "server" else str(tmp_path / "vectors.db")
    config = dataclasses.replace(sample_index, index_dir=tmp_path / "index", vector_store=store)
    report = build_index(config, embedder=embedder)
    manifest = read_manifest(IndexFolder(config.index_dir).current())
    assert manifest["vector_store"]["index_type"] == "FLAT"
    assert "vectors.faiss" not in manifest["files"]  # the vectors are in Milvus only
    faiss = Searcher.open(IndexFolder(sample_index.index_dir).current(), embedder)
    searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder)
    assert searcher.passage_count == faiss.passage_count == report.passages
    for query in QUERIES:
        for mode in ("dense", "hybrid"):
            assert same_rankings(ranking(searcher, query, mode=mode),
                                 ranking(faiss, query, mode=mode)), (query, mode)
        # A document filter scores that document's passages from their stored vectors.
        document = faiss.search(SearchRequest(query, k=1)).hits[0].passage.document_id
        assert same_rankings(ranking(searcher, query, document_ids=(document,)),
                             ranking(faiss, query, document_ids=(document,))), query


def test_hnsw_on_milvus_finds_what_exact_search_finds(
    milvus: str, sample_index: Config, embedder: Embedder, tmp_path: Path
) -> None:
    config = dataclasses.replace(sample_index, index_dir=tmp_path / "index", vector_store=milvus,
                                 faiss_factory="HNSW16")
    build_index(config, embedder=embedder)
    manifest = read_manifest(IndexFolder(config.index_dir).current())
    assert manifest["vector_store"]["index_type"] == "HNSW"
    exact = Searcher.open(IndexFolder(sample_index.index_dir).current(), embedder)
    searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder)
    for query in QUERIES:
        assert same_rankings(ranking(searcher, query, mode="dense"),
                             ranking(exact, query, mode="dense")), query


def test_publishing_moves_the_alias_and_reuses_vectors_from_milvus(
    milvus: str, server: str, config: Config, embedder: Embedder
) -> None:
    config = dataclasses.replace(config, vector_store=milvus, keep_generations=2)
    alias = milvus.rsplit("/", 1)[1]
    client = client_of(server)
    first = build_index(config, embedder=embedder).generation
    assert first is not None
    entry = read_manifest(IndexFolder(config.index_dir).current())["vector_store"]
    assert entry["uri"] == milvus and entry["collection"] == f"{alias}_{first.replace('-', '_')}"
    assert client.describe_alias(alias)["collection_name"] == entry["collection"]
    # The model guard travels with the collection.
    description = json.loads(client.describe_collection(entry["collection"])["description"])
    assert description["generation"] == first
    assert description["model"]["weights_sha256"] == embedder.info.weights_sha256
    assert description["model"]["dimension"] == 384

    changed = sorted(config.docs_dir.glob("*.txt"))[0]
    changed.write_text(changed.read_text() + "\n\nA new closing paragraph about lighthouses.\n")
    second = build_index(config, embedder=embedder)
    assert second.generation is not None and len(second.changed) == 1
    assert 0 < second.embedded < second.passages  # the others' vectors came from Milvus
    second_collection = f"{alias}_{second.generation.replace('-', '_')}"
    assert client.describe_alias(alias)["collection_name"] == second_collection
    searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder)
    assert "lighthouses" in searcher.search(SearchRequest("lighthouses", k=1)).hits[0].passage.text

    third = build_index(config, embedder=embedder, full=True).generation
    assert third is not None
    # keep_generations 2: the first generation's folder and collection are gone together.
    mine = sorted(c for c in client.list_collections() if c.startswith(alias + "_"))
    assert mine == sorted([second_collection, f"{alias}_{third.replace('-', '_')}"])
    assert client.describe_alias(alias)["collection_name"] == mine[-1]


def test_switching_from_faiss_to_milvus_embeds_nothing(
    milvus: str, config: Config, embedder: Embedder
) -> None:
    build_index(config, embedder=embedder)
    report = build_index(dataclasses.replace(config, vector_store=milvus), embedder=embedder)
    assert report.generation is not None and report.embedded == 0
    faiss = Searcher.open(IndexFolder(config.index_dir).published()[0], embedder)
    searcher = Searcher.open(IndexFolder(config.index_dir).current(), embedder)
    assert same_rankings(ranking(searcher, QUERIES[0]), ranking(faiss, QUERIES[0]))
    back = build_index(config, embedder=embedder)  # and back: FAISS files again, no model
    assert back.generation is not None and back.embedded == 0


def test_a_killed_builds_collection_is_dropped_by_the_next_build(
    milvus: str, server: str, config: Config, embedder: Embedder
) -> None:
    config = dataclasses.replace(config, vector_store=milvus)
    build_index(config, embedder=embedder)
    # What a build killed after writing its vectors leaves: a collection no folder names.
    store = MilvusStore.connect(milvus)
    orphan = store.write(config.index_dir, "20200101T000000000000Z-dead00",
                         np.eye(3, 384, dtype=np.float32), "auto", embedder.fingerprint(),
                         progress=False)
    # Another index on the same server whose name starts like this one's.
    neighbour = MilvusStore.connect(milvus + "_v2").write(
        config.index_dir, "20200101T000000000000Z-0ther0", np.eye(3, 384, dtype=np.float32),
        "auto", embedder.fingerprint(), progress=False,
    )
    client = client_of(server)
    assert orphan["collection"] in client.list_collections()
    (config.docs_dir / "new.txt").write_text("A short new document about river otters.\n")
    assert build_index(config, embedder=embedder).generation is not None
    assert orphan["collection"] not in client.list_collections()
    assert neighbour["collection"] in client.list_collections()


def test_a_failed_build_leaves_milvus_and_the_live_index_as_they_were(
    milvus: str, server: str, config: Config, embedder: Embedder
) -> None:
    config = dataclasses.replace(config, vector_store=milvus)
    live = build_index(config, embedder=embedder).generation
    client = client_of(server)
    before = sorted(client.list_collections())
    (config.docs_dir / "new.txt").write_text("A short new document about river otters.\n")
    with pytest.raises(BuildError, match='Milvus builds faiss_factory "auto", "Flat"'):
        build_index(dataclasses.replace(config, faiss_factory="IVF64,PQ8"), embedder=embedder)
    assert sorted(client.list_collections()) == before
    assert IndexFolder(config.index_dir).current().name == live


def test_the_collection_guard_refuses_vectors_of_another_model(
    milvus: str, config: Config, embedder: Embedder
) -> None:
    config = dataclasses.replace(config, vector_store=milvus)
    build_index(config, embedder=embedder)
    folder = IndexFolder(config.index_dir).current()
    manifest = read_manifest(folder)
    other = {**manifest["model"], "weights_sha256": "0" * 64, "name": "another-model"}
    with pytest.raises(IndexMismatchError, match=r"not written for .* \(name, weights_sha256"):
        open_vector_index(folder, manifest, other)


def test_a_lite_file_in_use_gives_a_clear_error(
    config: Config, embedder: Embedder, exported_env: dict[str, str], tmp_path: Path
) -> None:
    lite = tmp_path / "vectors.db"
    config = dataclasses.replace(config, vector_store=str(lite))
    build_index(config, embedder=embedder)  # this process now holds the file
    result = subprocess.run(
        [sys.executable, "scripts/rebuild_index.py", "--docs", str(config.docs_dir),
         "--index-dir", str(config.index_dir), "--vector-store", str(lite), "--full", "-q"],
        cwd=ROOT, env=exported_env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "one process at a time" in result.stderr


def get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        body: dict[str, Any] = json.load(response)
        return body


def answers(port: int, query: str) -> list[str]:
    q = urllib.parse.quote(query)
    return [r["passage_id"] for r in get(port, f"/api/search?q={q}&k=10")["results"]]


def wait_until(condition: Any, what: str, processes: list[subprocess.Popen[str]],
               timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a service exited while waiting for {what}: {process.stderr}")
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_two_service_processes_serve_one_milvus_index(
    milvus: str, server: str, config: Config, embedder: Embedder, exported_env: dict[str, str],
    tmp_path: Path,
) -> None:
    config = dataclasses.replace(config, vector_store=milvus, reload_interval=0.5)
    build_index(config, embedder=embedder)
    faiss_config = dataclasses.replace(config, index_dir=tmp_path / "faiss", vector_store="faiss")
    build_index(faiss_config, embedder=embedder)
    expected = Searcher.open(IndexFolder(faiss_config.index_dir).current(), embedder)
    ports = free_ports(2)
    env = {**exported_env, "SEARCH_RELOAD_INTERVAL": "0.5"}
    services = [
        subprocess.Popen(
            [sys.executable, "-m", "service", "--index-dir", str(config.index_dir),
             "--port", str(port), "--vector-store", f"milvus://{server}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for port in ports
    ]
    try:
        wait_until(lambda: all(get(p, "/readyz")["status"] == "ready" for p in ports),
                   "both services ready", services)
        for query in QUERIES[:6]:
            wanted = [h.passage.id for h in expected.search(SearchRequest(query, k=10)).hits]
            assert answers(ports[0], query) == answers(ports[1], query) == wanted, query
        # A rebuild publishes while both serve: both move to it.
        (config.docs_dir / "otters.txt").write_text(
            "River otters hold hands while they sleep so they do not drift apart.\n"
        )
        generation = build_index(config, embedder=embedder).generation
        wait_until(
            lambda: all(get(p, "/readyz")["index"]["generation"] == generation for p in ports),
            "both services on the new generation", services,
        )
        for port in ports:
            top = get(port, "/api/search?q=sleeping+otters&k=1")["results"][0]
            assert "otters" in top["text"]
    finally:
        for service in services:
            service.terminate()
        for service in services:
            service.wait(timeout=30)
            assert service.stderr is not None
            service.stderr.close()


def test_a_milvus_outage_is_a_503_and_the_service_recovers(
    config: Config, embedder: Embedder, tmp_path: Path
) -> None:
    from service import create_app

    data = tmp_path / "milvus"
    with milvus_server(data) as uri:
        config = dataclasses.replace(
            config, vector_store=f"milvus://{uri.removeprefix('http://')}/outage"
        )
        build_index(config, embedder=embedder)
        client = create_app(config, embedder=embedder, watch=False).test_client()
        assert client.get("/api/search?q=Iraq").status_code == 200
    # The server is gone: a clear, passing error, not a 500, within seconds.
    started = time.monotonic()
    response = client.get("/api/search?q=Iraq+war")
    assert time.monotonic() - started < 30
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert "does not answer" in response.get_json()["error"]["message"]
    # A service started meanwhile has nothing to serve yet, and does not give up on the
    # generation: it loads it once Milvus is back (same data folder, same ports).
    live = create_app(config, embedder=embedder, watch=False).extensions["live_index"]
    assert live.searcher is None
    with milvus_server(data):
        # As the service's watcher does: check again until the restarted server has the
        # collection loaded.
        deadline = time.monotonic() + 180
        while not live.refresh():
            assert time.monotonic() < deadline, "never loaded the generation again"
            time.sleep(1)
        assert live.searcher is not None
        assert live.searcher.search(SearchRequest("Iraq war", k=3)).hits


_FORKS_WHILE_SEARCHING = """
import os, subprocess, sys, threading
from index.vectors.milvus import _connect, parse_milvus_uri

client = _connect(parse_milvus_uri(sys.argv[1]))
stop = threading.Event()

def search_on():  # as the service's request threads do, while a build runs tesseract
    while not stop.is_set():
        client.list_collections()

for _ in range(4):
    threading.Thread(target=search_on, daemon=True).start()
failed = 0
for _ in range(1000):
    try:
        failed += subprocess.run(["true"], preexec_fn=os.setpgrp, timeout=20).returncode != 0
    except subprocess.TimeoutExpired:
        failed += 1
stop.set()
print(failed)
"""


def test_a_child_process_started_while_milvus_is_searched_runs(tmp_path: Path) -> None:
    # gRPC's fork handlers made 1 in 35 to 70 such children crash or hang before exec
    # (grpc/grpc#43055); the store turns them off before gRPC loads.
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    result = subprocess.run([sys.executable, "-c", _FORKS_WHILE_SEARCHING, str(tmp_path / "v.db")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
