"""What API keys cost a request, and how long the search command takes from start to answer.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/access.py [--requests 3000] [--runs 10] \
        [--markdown var/bench/access.md] [--json var/bench/access.json]

1. API keys: the same app over the sample corpus's index built twice in this process, one
   without keys and one with ten keys set (the request carrying the last of them, so that
   every comparison is made), ``GET /api/status`` through Flask's test client in
   alternating blocks of 100; the difference of the mean per request is the keys' cost.
2. The search command: ``search QUERY --index-dir ...`` run as a new process ``--runs``
   times (distinct queries, so no cache of any kind helps), wall time from start to exit,
   next to ``python -c pass`` as the floor of starting an interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    base_config,
    build_sample_index,
    fmt,
    machine_state,
    markdown_table,
    setup_logging,
    write_outputs,
)

from index import load_embedder  # noqa: E402

KEYS = [f"benchmark-key-{i:02d}-{'x' * 24}" for i in range(10)]
BLOCK = 100


def key_cost(index_dir: Path, requests: int) -> dict[str, float]:
    from service import create_app

    config = base_config(index_dir=index_dir)
    embedder = load_embedder(config)
    clients = {
        "without keys": (create_app(config, embedder=embedder, watch=False).test_client(), {}),
        "with 10 keys": (create_app(replace(config, api_keys=",".join(KEYS)),
                                    embedder=embedder, watch=False).test_client(),
                         {"Authorization": f"Bearer {KEYS[-1]}"}),
    }
    spent: dict[str, list[float]] = {name: [] for name in clients}
    for block in range(requests // BLOCK):
        for name in list(clients)[block % 2 :] + list(clients)[: block % 2]:
            client, headers = clients[name]
            started = time.perf_counter()
            for _ in range(BLOCK):
                response = client.get("/api/status", headers=headers)
                assert response.status_code == 200, response.get_data()
            spent[name].append((time.perf_counter() - started) * 1000 / BLOCK)
    return {name: statistics.median(ms) for name, ms in spent.items()}


def command_time(index_dir: Path, runs: int) -> dict[str, float]:
    search = Path(sys.executable).parent / "search"
    queries = [f"who spoke for the ministry in {year}" for year in range(2000, 2000 + runs)]
    timings: dict[str, list[float]] = {"python -c pass": [], "search QUERY": []}
    for query in queries:
        for name, command in (("python -c pass", [sys.executable, "-c", "pass"]),
                              ("search QUERY", [str(search), query, "--index-dir",
                                                str(index_dir)])):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=REPO)
            timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(seconds) for name, seconds in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = build_sample_index(Path(tmp) / "index",
                                       load_embedder(base_config()))
        keys = key_cost(index_dir, args.requests)
        command = command_time(index_dir, args.runs)
    cost = keys["with 10 keys"] - keys["without keys"]
    report = [
        f"GET /api/status, Flask test client, median of blocks of {BLOCK} (ms a request):", "",
        markdown_table(["app", "ms"], [[n, fmt(v, 3)] for n, v in keys.items()]
                       + [["keys' cost", fmt(cost, 3)]]),
        "", f"Start to answer, median of {args.runs} runs (s):", "",
        markdown_table(["command", "s"], [[n, fmt(v, 2)] for n, v in command.items()]),
    ]
    results: dict[str, Any] = {"machine": machine_state(), "api_keys_ms": keys,
                               "api_keys_cost_ms": cost, "command_seconds": command}
    write_outputs("\n".join(report), results, args.markdown, args.json)


if __name__ == "__main__":
    main()
