"""A flood of expensive searches against the real service, and one ordinary user beside it.

32 clients send searches built to cost the most (1,000 characters of distinct words, k=100,
offset=1000, grouped, explained) back to back; one client sends ordinary searches. Reports
the ordinary user's latency, what the flood was answered, and the service's RSS.

    .venv/bin/python benchmarks/flood.py --index-dir var/index --seconds 60
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import click
from common import HttpClient, Service, expensive_path, percentile, search_path
from load import rss_kib

ORDINARY = ("russian foreign ministry", "iraq war", "oil prices", "nuclear talks", "elections")


@click.command()
@click.option("--index-dir", type=click.Path(path_type=Path), default=Path("var/index"))
@click.option("--clients", default=32, show_default=True)
@click.option("--seconds", default=60.0, show_default=True)
def main(index_dir: Path, clients: int, seconds: float) -> None:
    with Service(index_dir) as service:
        assert service.pid is not None
        rss = [rss_kib(service.pid)]
        stop = threading.Event()
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def flood(seed: int) -> None:
            client, rng = HttpClient(service.port), random.Random(seed)
            while not stop.is_set():
                status, _ = client.get(expensive_path(rng))
                with lock:
                    statuses[status] += 1

        def ordinary(latencies: list[float]) -> None:
            client = HttpClient(service.port)
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = client.get(search_path(random.choice(ORDINARY)))
                latencies.append((time.perf_counter() - started) * 1000)
                assert status == 200, status

        alone: list[float] = []
        solo = threading.Thread(target=ordinary, args=(alone,))
        solo.start()
        time.sleep(5)
        stop.set()
        solo.join()
        stop.clear()
        beside: list[float] = []
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(clients)]
        threads.append(threading.Thread(target=ordinary, args=(beside,)))
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            rss.append(rss_kib(service.pid))
        stop.set()
        for thread in threads:
            thread.join()
        time.sleep(5)
        after = rss_kib(service.pid)
    print(f"ordinary alone:  p50 {percentile(alone, 50):.1f} ms, p90 {percentile(alone, 90):.1f}"
          f" ms ({len(alone)} searches)")
    print(f"ordinary beside {clients} flooding clients: p50 {percentile(beside, 50):.1f} ms, "
          f"p90 {percentile(beside, 90):.1f} ms, p99 {percentile(beside, 99):.1f} ms "
          f"({len(beside)} searches)")
    print(f"flood answered: {dict(statuses)}")
    print(f"service RSS MiB: start {rss[0] / 1024:.1f}, peak {max(rss) / 1024:.1f}, "
          f"end {rss[-1] / 1024:.1f}, 5 s after {after / 1024:.1f}")


if __name__ == "__main__":
    main()
