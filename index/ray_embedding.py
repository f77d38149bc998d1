"""Embedding a rebuild's passages as a Ray Data job on a Ray cluster.

The driver (the rebuild) forms the same model batches as an in-process build
(``Embedder.passage_batches``) and hands them to a pool of actors, each loading the model
once. Every actor reserves as many CPUs as the smallest node has, and the pool has as many
actors as the nodes hold at that size: one per node when the nodes are alike, several on a
node with a multiple of the smallest's CPUs; Ray's scheduler places them. An actor embeds
every batch exactly as given, so the vectors equal the in-process ones. Only this module
imports Ray, and only ``rebuild-index --ray`` imports it.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from index.config import Config
from index.embedding import Embedder, find_model
from index.errors import BuildError

logger = logging.getLogger(__name__)

# Model batches per Ray batch: enough to keep an actor's cores busy between hand-overs.
_BATCHES_PER_TASK = 8


class PassageEmbedder:
    """A Ray actor: the model loaded once, embedding the model batches it is given."""

    def __init__(self, model: str, backend: str, cache_dir: str,
                 encoder: tuple[str, str | None]) -> None:
        self._embedder = Embedder.load(find_model(model), backend, backend, Path(cache_dir))
        if self._embedder.passage_encoder != encoder:
            # Another runtime or precision on this node (no bf16, say) would make vectors
            # that must not be mixed with the driver's.
            raise BuildError(
                f"node {os.uname().nodename} embeds with {self._embedder.passage_backend}, "
                f"the rebuild with {encoder[0]}: their vectors would not mix"
            )

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        vectors = self._embedder.embed_batches([list(texts) for texts in batch["texts"]])
        return {"row": np.concatenate(list(batch["rows"])), "vector": np.concatenate(vectors)}


def embed_on_ray(
    address: str, texts: list[str], embedder: Embedder, config: Config, progress: bool
) -> NDArray[np.float32]:
    """The passages' vectors, embedded on the Ray cluster at ``address``.

    Raises:
        BuildError: Ray is not installed, the cluster is unreachable, or the job failed.
    """
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    if not texts:
        return out
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise BuildError(f"--ray wants the cluster's HOST:PORT, not {address!r}")
    try:
        # ray.init waits for a cluster that is not there for minutes: ask the port first.
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise BuildError(f"cannot connect to the Ray cluster at {address}: {e}") from e
    if host in ("127.0.0.1", "localhost"):
        # Ray rewrites a loopback address to the machine's outward one, where a cluster
        # started on 127.0.0.1 does not listen (ray-project/ray#59110); on Linux this only
        # turns that rewrite off. It must be set before Ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # Ray's client speaks gRPC, whose fork handlers can crash a child forked meanwhile
    # (see vectors/milvus.py); they must be turned off before gRPC loads.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    try:
        import ray
        import ray.data  # before its loggers are set: importing it configures them
    except ImportError as e:
        raise BuildError("--ray needs Ray: pip install 'ray[data]'") from e
    batches = embedder.passage_batches(texts, config.batch_size)
    # Ray Data logs its plan and progress (and that its bars are off): this module's bar
    # says what matters, and a failed job raises.
    quiet = logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.ERROR
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(quiet)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=False)
    except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
        raise BuildError(f"cannot connect to the Ray cluster at {address}: {e}") from e
    try:
        actors, cpus = _actor_pool(ray)
        logger.info("embedding %d passages on Ray at %s: %d actor(s) of %d CPU(s)",
                    len(texts), address, actors, cpus)
        ray.data.DataContext.get_current().enable_progress_bars = False
        items = [{"rows": rows, "texts": [texts[i] for i in rows]} for rows in batches]
        job = ray.data.from_items(items).map_batches(
            PassageEmbedder,
            fn_constructor_kwargs={
                "model": config.model, "backend": config.passage_backend,
                "cache_dir": str(Path(config.cache_dir).resolve()),
                "encoder": embedder.passage_encoder,
            },
            batch_size=_BATCHES_PER_TASK, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus,
        )
        with tqdm(total=len(texts), desc="Embedding on Ray", unit="passage", file=sys.stderr,
                  disable=not progress) as bar:
            done = 0
            for result in job.iter_batches(batch_format="numpy", batch_size=None):
                out[result["row"]] = result["vector"]
                done += len(result["row"])
                bar.update(len(result["row"]))
    except BuildError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed task surfaces as Ray's own errors
        raise BuildError(f"the Ray embedding job failed: {e}") from e
    finally:
        ray.shutdown()
    if done != len(texts):
        raise BuildError(f"the Ray embedding job returned {done} of {len(texts)} vectors")
    return out


def _actor_pool(ray: Any) -> tuple[int, int]:
    """(actors, CPUs each): actors as big as the smallest node, as many as the nodes fit."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1]
    if not nodes:
        raise BuildError("the Ray cluster has no node with a CPU")
    cpus = int(min(n["Resources"]["CPU"] for n in nodes))
    return sum(int(n["Resources"]["CPU"]) // cpus for n in nodes), cpus
