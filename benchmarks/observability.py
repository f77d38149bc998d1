"""What GET /metrics's counting, the access log and API keys cost each request: the same
build with them off and on, in the same process.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/observability.py \
        --rounds 30 --requests 200 --markdown var/bench/observability.md

Five apps over one copy of the sample index, sharing one model: ``create_app(observe=False)``
without keys (no request id, no metrics, no access log, no key asked) twice, the second to
show how far two identical apps differ in one run; ``observe=True`` with the access log as
text and as JSON lines; and everything on at once: metrics, the access log as JSON lines
and ten API keys, the request carrying the last of them (every key is compared). Every app
gets the same ``Authorization: Bearer`` header, so only what the app does with it differs.
The access log is written for real, by a handler at INFO to /dev/null, so its formatting is
counted. Each app is driven through Flask's test client (no sockets: what is left is the
app's own time, the thing measured) on three requests:

  healthz   GET /healthz, the cheapest route: the overhead's share is largest
  search    GET /api/search?q=...: a hybrid search of a cached query, its stages timed
  error     GET /api/documents/none.md: a 404 JSON error body, with its request_id

Per round, each app answers ``--requests`` of each request in a rotated order (so drift hits
all alike); the report gives the median over rounds of the mean ms per request, and the
cost: the median over rounds of each round's difference to the "off" app in that round,
with the middle half of those differences (25th-75th percentile) as their spread. The
"off, again" row's cost is the noise: what two identical apps differ by. Target (issue 18):
the metrics and the keys together under 0.2 ms per request.
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
from access import KEYS  # noqa: E402  (the ten keys benchmarks/access.py times)
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

HEADERS = {"Authorization": f"Bearer {KEYS[-1]}"}

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
            "all on (JSON log, 10 keys)": create_app(
                base_config(index_dir=index_dir, log_format="json", api_keys=",".join(KEYS)),
                embedder=embedder, watch=False).test_client(),
        }
        names = list(clients)
        for client in clients.values():  # warm: the query's vector cached, code paths run
            for kind, path in REQUESTS.items():
                status = client.get(path, headers=HEADERS).status_code
                assert status == (404 if kind == "error" else 200), (kind, status)
        means: dict[tuple[str, str], list[float]] = {(n, r): [] for n in names
                                                     for r in REQUESTS}
        for round_no in range(rounds):
            for kind, path in REQUESTS.items():
                for i in range(len(names)):
                    name = names[(round_no + i) % len(names)]
                    client = clients[name]
                    started = time.perf_counter()
                    for _ in range(per_round):
                        client.get(path, headers=HEADERS)
                    means[(name, kind)].append(
                        (time.perf_counter() - started) * 1000 / per_round)
    results: dict[str, Any] = {"machine": machine_state(), "rounds": rounds,
                               "requests_per_round": per_round, "ms": {}}
    results["cost_ms"] = {}
    rows = []
    for kind in REQUESTS:
        base = means[("off", kind)]
        for name in names:
            ms = statistics.median(means[(name, kind)])
            results["ms"][f"{kind} {name}"] = ms
            if name == "off":
                rows.append((kind, name, fmt(ms, 3), "", ""))
                continue
            # Paired by round: each round's difference, so that drift between rounds cancels.
            diffs = [on - off for on, off in zip(means[(name, kind)], base, strict=True)]
            q1, median, q3 = statistics.quantiles(diffs, n=4)
            results["cost_ms"][f"{kind} {name}"] = {"median": median, "q1": q1, "q3": q3}
            rows.append((kind, name, fmt(ms, 3), fmt(median, 3),
                         f"{fmt(q1, 3)} to {fmt(q3, 3)}"))
    markdown = markdown_table(
        ("request", "app", "ms per request (median of rounds)", "cost, ms (median)",
         "cost, middle half of rounds"), rows)
    write_outputs(markdown, results, markdown_out, json_out)


if __name__ == "__main__":
    main()
