"""What GET /metrics's counting and the access log cost each request: the same build with
them off and on, in the same process.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/observability.py \
        --rounds 30 --requests 200 --markdown var/bench/observability.md

Four apps over one copy of the sample index, sharing one model: ``create_app(observe=False)``
(no request id, no metrics, no access log) twice, the second to show how far two identical
apps differ in one run, and ``observe=True`` with the access log as text and as JSON
lines. The access log is written for real, by a handler at INFO to /dev/null, so its
formatting is counted. Each app is driven through Flask's test client
(no sockets: what is left is the app's own time, the thing measured) on three requests:

  healthz   GET /healthz, the cheapest route: the overhead's share is largest
  search    GET /api/search?q=...: a hybrid search of a cached query, its stages timed
  error     GET /api/documents/none.md: a 404 JSON error body, with its request_id

Per round, each app answers ``--requests`` of each request in a rotated order (so drift hits
all alike); the report gives the median over rounds of the mean ms per request, and the
difference to the app without them. Target (issue 18): under 0.2 ms per request.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    base_config,
    build_sample_index,
    fmt,
    machine_state,
    markdown_table,
    report_options,
    service_embedder,
    write_outputs,
)

from service import create_app  # noqa: E402

REQUESTS = {
    "healthz": "/healthz",
    "search": "/api/search?q=how+often+is+high+water+at+the+harbour",
    "error": "/api/documents/none.md",
}


@click.command()
@click.option("--rounds", type=int, default=30, show_default=True)
@click.option("--requests", "per_round", type=int, default=200, show_default=True,
              help="Requests of each kind to each app per round.")
@report_options()
def main(rounds: int, per_round: int, markdown_out: Path | None, json_out: Path | None,
         verbose: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The access log at INFO, written (to nowhere) as the service writes it, not dropped.
    access = logging.getLogger("service.access")
    access.addHandler(logging.FileHandler(os.devnull))
    access.setLevel(logging.INFO)
    access.propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        embedder = service_embedder(Path(tmp) / "empty")
        index_dir = build_sample_index(Path(tmp) / "index", embedder)
        config = base_config(index_dir=index_dir)
        clients = {
            "off": create_app(config, embedder=embedder, watch=False,
                              observe=False).test_client(),
            # A second app without them: how far two identical apps differ (the noise).
            "off, again": create_app(config, embedder=embedder, watch=False,
                                     observe=False).test_client(),
            "on (text log)": create_app(config, embedder=embedder,
                                        watch=False).test_client(),
            "on (JSON log)": create_app(base_config(index_dir=index_dir, log_format="json"),
                                        embedder=embedder, watch=False).test_client(),
        }
        names = list(clients)
        for client in clients.values():  # warm: the query's vector cached, code paths run
            for path in REQUESTS.values():
                client.get(path)
        means: dict[tuple[str, str], list[float]] = {(n, r): [] for n in names
                                                     for r in REQUESTS}
        for round_no in range(rounds):
            for kind, path in REQUESTS.items():
                for i in range(len(names)):
                    name = names[(round_no + i) % len(names)]
                    client = clients[name]
                    started = time.perf_counter()
                    for _ in range(per_round):
                        client.get(path)
                    means[(name, kind)].append(
                        (time.perf_counter() - started) * 1000 / per_round)
    results: dict[str, Any] = {"machine": machine_state(), "rounds": rounds,
                               "requests_per_round": per_round, "ms": {}}
    rows = []
    for kind in REQUESTS:
        base = statistics.median(means[("off", kind)])
        for name in names:
            ms = statistics.median(means[(name, kind)])
            results["ms"][f"{kind} {name}"] = ms
            rows.append((kind, name, fmt(ms, 3), "" if name == "off" else fmt(ms - base, 3)))
    markdown = markdown_table(
        ("request", "metrics and log", "ms per request (median of rounds)", "cost, ms"), rows)
    write_outputs(markdown, results, markdown_out, json_out)


if __name__ == "__main__":
    main()
