"""Passage vectors in Milvus: one collection per generation, an alias on the live one.

A generation's vectors go into the collection ``NAME_<generation>`` (rowid as primary key);
publishing points the alias ``NAME`` at it in one ``alter_alias`` call. The collection's
description keeps the model guard (model name, checksums, dimension, passage encoder) and
the generation it belongs to, as JSON, so a reader checks them against the generation's
manifest before it searches. (Properties would be the natural place, but Milvus Lite drops
them, and it has no aliases: there the generation's CURRENT file is the only pointer.)
pymilvus is imported only when a Milvus store is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from index.errors import BuildError, IndexMismatchError, VectorStoreUnavailableError
from index.vectors.auto import HNSW_EF_SEARCH, resolve_factory

logger = logging.getLogger(__name__)

DEFAULT_NAME = "search"
_SERVER_URI = re.compile(r"milvus://(?P<host>[^/:\s]+):(?P<port>\d{1,5})(?:/(?P<name>[^/\s]*))?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,100}")
# Rows per insert call: 5,000 x 384 floats is ~8 MB, well under gRPC's 64 MB message limit.
_INSERT_ROWS = 5_000
# Ids per get call (Milvus caps one query's result window at 16,384).
_GET_IDS = 10_000
# Candidates kept while building a Milvus HNSW graph (its efConstruction).
HNSW_EF_CONSTRUCTION = 200
# Reads of a published collection: it is complete and flushed before it is published, so
# they need not wait for Milvus's next time tick, as the collection's "Strong" level makes
# them do (docs/scaling.md has what that wait costs).
# A request waits at most this long for a server that does not answer (pymilvus retries
# within it), then gets a 503.
_READ: dict[str, Any] = {"consistency_level": "Eventually", "timeout": 5}
# Seconds a service waits when it opens a generation's collection (a check, loading it).
_CHECK_S = 10
_LOAD_S = 120
# What the collection's description must agree on with the manifest and the reader's model.
_GUARD_KEYS = ("name", "weights_sha256", "config_sha256", "dimension", "passage_backend")


@dataclass(frozen=True)
class MilvusAddress:
    """A parsed ``vector_store`` value naming Milvus."""

    client_uri: str  # what pymilvus connects to: "http://HOST:PORT" or a Lite file's path
    name: str  # the alias; collections are NAME_<generation>

    @property
    def lite(self) -> bool:
        """A Milvus Lite file: one process at a time, no aliases."""
        return not self.client_uri.startswith("http://")

    @property
    def uri(self) -> str:
        """As recorded in manifests."""
        if self.lite:
            return self.client_uri
        return f"milvus://{self.client_uri.removeprefix('http://')}/{self.name}"


def is_milvus_uri(value: str) -> bool:
    """Whether a ``vector_store`` value names a Milvus server or a Milvus Lite file."""
    try:
        parse_milvus_uri(value)
    except ValueError:
        return False
    return True


def parse_milvus_uri(value: str) -> MilvusAddress:
    """``milvus://HOST:PORT[/NAME]`` or ``PATH.db`` (Milvus Lite).

    Raises:
        ValueError: neither, or a name Milvus does not allow.
    """
    match = _SERVER_URI.fullmatch(value)
    if match:
        name = match["name"] or DEFAULT_NAME
        if not _NAME.fullmatch(name) or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(f"not a Milvus address: {value!r}")
        return MilvusAddress(f"http://{match['host']}:{match['port']}", name)
    if value.endswith(".db") and not value.startswith("milvus:"):
        return MilvusAddress(str(Path(value).expanduser().resolve()), DEFAULT_NAME)
    raise ValueError(f"not a Milvus address: {value!r}")


def _connect(address: MilvusAddress) -> Any:
    """This process's one client for ``address``, shared by every store and index on it.

    One is enough (it is thread-safe), and a searcher swapped out by a reload may still be
    answering a request: nothing closes a shared client while the process lives.
    """
    with _clients_lock:
        client = _clients.get(address.client_uri)
        if client is not None:
            return client
        # gRPC's fork handlers crash a child forked while other threads call into gRPC (as
        # searches do) before it can exec: tesseract for OCR, say (grpc/grpc#43055). Nothing
        # here forks to go on using gRPC, so they are turned off, before gRPC loads.
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        try:
            from pymilvus import MilvusClient
        except ImportError as e:
            raise BuildError("a Milvus vector store needs pymilvus: pip install pymilvus") from e
        if address.lite:
            Path(address.client_uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # Milvus Lite 2.5.1 imports pkg_resources, which warns on every start.
                warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
                client = MilvusClient(uri=address.client_uri, timeout=30)
        except Exception as e:  # noqa: BLE001 - pymilvus raises its own and gRPC's errors
            busy = " (Milvus Lite opens a file in one process at a time)" if address.lite else ""
            raise BuildError(f"cannot open Milvus at {address.uri}: {_message(e)}{busy}") from e
        _clients[address.client_uri] = client
        return client


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _message(error: Exception) -> str:
    return str(getattr(error, "message", None) or error).strip()


def _description(described: dict[str, Any]) -> dict[str, Any]:
    """The JSON this code writes into a collection's description; {} for any other."""
    try:
        value = json.loads(described.get("description") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _collection(name: str, generation: str) -> str:
    return f"{name}_{generation.replace('-', '_')}"


def _index_params(factory: str, count: int) -> tuple[str, dict[str, Any]]:
    """Milvus index type and parameters for the ``faiss_factory`` setting ("auto" is
    resolved as for FAISS: exact below ``ANN_THRESHOLD``, HNSW with the same links above)."""
    factory = resolve_factory(factory, count)
    if factory == "Flat":
        return "FLAT", {}
    match = re.fullmatch(r"HNSW(\d+)(?:,.*)?", factory)
    if match:
        return "HNSW", {"M": int(match[1]), "efConstruction": HNSW_EF_CONSTRUCTION}
    raise BuildError(f'Milvus builds faiss_factory "auto", "Flat" or "HNSW<M>", not {factory!r}')


class MilvusStore:
    """Writes generations' vectors into a Milvus server or Milvus Lite file."""

    def __init__(self, address: MilvusAddress, client: Any) -> None:
        self._address = address
        self._client = client
        self.uri = address.uri

    @classmethod
    def connect(cls, value: str) -> MilvusStore:
        address = parse_milvus_uri(value)
        return cls(address, _connect(address))

    def write(
        self, build_folder: Path, generation: str, vectors: NDArray[np.float32], factory: str,
        guard: dict[str, Any], progress: bool,
    ) -> dict[str, Any]:
        from pymilvus import DataType, MilvusClient

        count, dimension = vectors.shape
        index_type, params = _index_params(factory, count)
        collection = _collection(self._address.name, generation)
        description = {"generation": generation, "model": {k: guard[k] for k in _GUARD_KEYS}}
        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=json.dumps(description)
        )
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        try:
            # Strong: a search sees every row inserted before it (the server's default,
            # Bounded, may not yet).
            self._client.create_collection(collection, schema=schema, consistency_level="Strong")
            with tqdm(total=count, desc="Storing vectors", unit="vector", file=sys.stderr,
                      disable=not progress or count <= _INSERT_ROWS) as bar:
                for start in range(0, count, _INSERT_ROWS):
                    part = vectors[start : start + _INSERT_ROWS]
                    rows = [{"id": start + i + 1, "vector": v} for i, v in enumerate(part)]
                    self._client.insert(collection, rows)
                    bar.update(len(part))
            self._client.flush(collection)
            index = self._client.prepare_index_params()
            index.add_index("vector", index_type=index_type, metric_type="IP", params=params)
            self._client.create_index(collection, index)
            self._client.load_collection(collection)
        except Exception as e:  # noqa: BLE001 - pymilvus raises its own and gRPC's errors
            self._drop(collection)
            raise BuildError(f"cannot write vectors to Milvus at {self.uri}: {_message(e)}") from e
        return {"uri": self.uri, "collection": collection, "index_type": index_type}

    def publish(self, entry: dict[str, Any]) -> None:
        alias, collection = self._address.name, entry["collection"]
        if self._address.lite:
            return  # no aliases in Milvus Lite; CURRENT points at the generation
        try:
            if alias in self._client.list_aliases()["aliases"]:
                self._client.alter_alias(collection, alias)  # one atomic switch
            else:
                self._client.create_alias(collection, alias)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"cannot point Milvus alias {alias!r} at {collection}: "
                             f"{_message(e)}") from e
        logger.info("Milvus alias %s -> %s", alias, collection)

    def discard(self, entry: dict[str, Any]) -> None:
        self._drop(entry["collection"])

    def prune(self, keep: set[str]) -> None:
        name = self._address.name
        try:
            live = self._alias_target()
            for collection in self._client.list_collections():
                if not collection.startswith(name + "_") or collection == live:
                    continue
                # Only collections this index wrote: "search_v2_<g>" is another index's.
                generation = self._generation_of(collection)
                if generation and generation not in keep and (
                        _collection(name, generation) == collection):
                    self._drop(collection)
                    logger.info("dropped Milvus collection %s", collection)
        except Exception as e:  # noqa: BLE001 - a failed clean-up must not fail the build
            logger.warning("cannot remove old Milvus collections: %s", _message(e))

    def _alias_target(self) -> str | None:
        # Listed first: describing a missing alias makes pymilvus log an error.
        if self._address.lite or self._address.name not in self._client.list_aliases()["aliases"]:
            return None
        target: str = self._client.describe_alias(self._address.name)["collection_name"]
        return target

    def _generation_of(self, collection: str) -> str | None:
        """The generation a collection was written for; None for one this code did not write."""
        generation: str | None = _description(self._client.describe_collection(collection)).get(
            "generation"
        )
        return generation

    def _drop(self, collection: str) -> None:
        try:
            self._client.drop_collection(collection)
        except Exception as e:  # noqa: BLE001
            logger.warning("cannot drop Milvus collection %s: %s", collection, _message(e))


class MilvusIndex:
    """A generation's Milvus collection, open for search; thread-safe."""

    def __init__(self, client: Any, collection: str, count: int, dimension: int,
                 index_type: str, uri: str) -> None:
        self._uri = uri
        self._client = client
        self._collection = collection
        self.count = count
        self.dimension = dimension
        self._params: dict[str, Any] = {"metric_type": "IP"}
        self._index_type = index_type

    def close(self) -> None:
        """Nothing to let go: the client is the process's shared one (``_connect``)."""

    @classmethod
    def open(cls, entry: dict[str, Any], guard: dict[str, Any], uri: str) -> MilvusIndex:
        """Connect and check the collection against the manifest's model guard.

        Raises:
            IndexMismatchError: the collection is missing, or its description names another
                model or generation.
            VectorStoreUnavailableError: Milvus does not answer.
        """
        address = parse_milvus_uri(uri)
        collection = entry["collection"]
        try:
            client = _connect(address)
            exists = client.has_collection(collection, timeout=_CHECK_S)
        except Exception as e:  # noqa: BLE001 - BuildError from _connect, or gRPC's
            raise VectorStoreUnavailableError(
                f"Milvus at {address.uri} does not answer: {_message(e)}") from e
        if not exists:
            raise IndexMismatchError(f"Milvus collection {collection} at {address.uri} is gone")
        try:
            described = client.describe_collection(collection, timeout=_CHECK_S)
            client.load_collection(collection, timeout=_LOAD_S)
            # Not get_collection_stats: on a server it counts only flushed rows.
            (counted,) = client.query(collection, filter="", output_fields=["count(*)"],
                                      timeout=_CHECK_S)
        except Exception as e:  # noqa: BLE001
            raise VectorStoreUnavailableError(
                f"Milvus collection {collection} at {address.uri} cannot be loaded: "
                f"{_message(e)}"
            ) from e
        recorded = _description(described).get("model", {})
        expected = {key: guard.get(key) for key in _GUARD_KEYS}
        found = {key: recorded.get(key) for key in _GUARD_KEYS}
        if found != expected:
            wrong = sorted(key for key in _GUARD_KEYS if found[key] != expected[key])
            raise IndexMismatchError(
                f"Milvus collection {collection} was not written for this generation's "
                f"model ({', '.join(wrong)} differ): rebuild the index"
            )
        dimension = next(
            int(f["params"]["dim"]) for f in described["fields"] if f["name"] == "vector"
        )
        return cls(client, collection, int(counted["count(*)"]), dimension, entry["index_type"],
                   address.uri)

    def search(self, query: NDArray[np.float32], depth: int) -> list[tuple[int, float]]:
        params = dict(self._params)
        if self._index_type == "HNSW":
            params["params"] = {"ef": max(HNSW_EF_SEARCH, depth)}
        try:
            (hits,) = self._client.search(
                self._collection, data=[query.tolist()], limit=depth, anns_field="vector",
                search_params=params, **_READ,
            )
        except Exception as e:  # noqa: BLE001 - gRPC's and pymilvus's errors
            raise self._unavailable(e) from e
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits]

    def vectors(self, rowids: NDArray[np.int64]) -> NDArray[np.float32]:
        out = np.empty((len(rowids), self.dimension), dtype=np.float32)
        position = {int(rowid): i for i, rowid in enumerate(rowids)}
        for start in range(0, len(rowids), _GET_IDS):
            ids = [int(i) for i in rowids[start : start + _GET_IDS]]
            try:
                rows = self._client.get(self._collection, ids=ids, output_fields=["vector"],
                                        **_READ)
            except Exception as e:  # noqa: BLE001
                raise self._unavailable(e) from e
            if len(rows) != len(set(ids)):
                raise IndexMismatchError(f"Milvus collection {self._collection} lacks vectors")
            for row in rows:
                out[position[int(row["id"])]] = row["vector"]
        return out

    def _unavailable(self, error: Exception) -> VectorStoreUnavailableError:
        logger.error("Milvus search failed: %s", _message(error))
        return VectorStoreUnavailableError(
            f"the vector store (Milvus at {self._uri}) does not answer; try again shortly"
        )
