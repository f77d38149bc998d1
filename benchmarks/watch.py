"""Watch mode: how soon a saved file is searchable, what a burst costs, and the idle watcher.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/watch.py [--documents 1000] [--edits 20] \
        [--burst 1000] [--mixed-burst 1000] [--idle-seconds 60] \
        [--load-seconds 30 --clients 16] [--in-service] \
        [--work-dir var/bench/watch] [--json var/bench/watch.json]

What it measures (issue 16), with a real ``scripts/rebuild_index.py --watch``
subprocess over a folder of ``--documents`` SciFact documents (.txt: title line, blank line,
abstract; written by ``benchmarks/indexing.py``'s writer), after its first build:

1. **Idle CPU** (``--idle-seconds``): the watcher's utime + stime from ``/proc/<pid>/stat``
   over that long with nothing changing, as a share of one core. Target: well under 1 %.
2. **Save-to-searchable latency** (``--edits``): each edit appends a sentence holding a
   unique made-up word to a different document. The clock starts just before the write and
   stops at the first query that returns that word: this process polls the index folder's
   CURRENT pointer every ``--poll`` seconds and, when it names a new generation, opens it
   with ``Searcher.open`` (manifest and checksums verified, as the service does) and asks a
   lexical query for the word. The next edit starts ``--pause`` seconds after the previous
   one is searchable, so every edit gets its own build. p50 and p95. Target: p95 <= 3 s.
   A running service adds its reload check on top (``reload_interval``, 2 s by default:
   1 s on average), which this number leaves out.
3. **Zero failed queries while the watcher publishes under load** (``--load-seconds``,
   ``--clients``; 0 skips it): ``python -m service`` on the same index folder (hot reload),
   ``--clients`` threads each on a keep-alive connection sending distinct SciFact queries
   (hybrid, k=10) back to back, while this process makes an edit every ``--load-edit-every``
   seconds. Any status other than 200, or a socket error, is a failure. Reports the
   generations the answers came from.
4. **A burst** (``--burst``; 0 skips it): that many new documents (the next SciFact records,
   each with a unique word) written as fast as possible into a subfolder. Reports the
   builds it caused (the watcher's "indexed changes ... published" log lines) and the time
   from the first write to the first generation holding every new document, then checks
   each new word is found.
5. **A mixed burst** (``--mixed-burst``; 0, the default, skips it), as a ``git checkout``
   makes: that many of the documents changed at once, a third each modified (a sentence with
   a unique word appended), deleted, and renamed into another subfolder. Reports the builds
   and the time from the first change to the first generation whose documents are exactly
   the folder's and which finds every new word.

``--in-service`` measures 1-3 with the watcher inside ``python -m service --watch`` (on a
free port, over the same folder) instead: idle CPU is the service process's; an edit is
searchable at the first ``/api/search`` answer (lexical, k=5) whose passages hold its word;
the 16 clients query that same service while its watcher publishes. The bursts are skipped.

Every process started here is stopped here (SIGTERM, then waited for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import sqlite3
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    SCIFACT_QUERIES,
    HttpClient,
    Service,
    machine_state,
    percentile,
    read_queries,
    search_path,
)
from indexing import ROOT, SCIFACT, write_scifact_docs  # noqa: E402
from watch_processes import (  # noqa: E402
    TIMEOUT,
    HttpReader,
    Reader,
    Watcher,
    WatchingProcess,
    WatchingService,
    wait_until_found,
)

from index import DEFAULT_MODEL, Config, Embedder, Searcher, find_model  # noqa: E402
from index.store import STORE_FILE  # noqa: E402

logger = logging.getLogger("bench.watch")


# --- documents and edits -------------------------------------------------------------------

def unique_word(rng: random.Random, label: str) -> str:
    """A made-up word no document holds: ``label`` plus random letters."""
    return label + "".join(rng.choices(string.ascii_lowercase, k=8))


def append_sentence(path: Path, word: str) -> None:
    """A realistic save: the whole file rewritten with one more sentence at the end."""
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(f"{text} A reviewer added the note {word} to this abstract.\n",
                    encoding="utf-8")


def scifact_records(scifact: Path, skip: int, count: int) -> list[tuple[str, str, str]]:
    """SciFact records ``skip`` to ``skip + count``: (id, title, text)."""
    records: list[tuple[str, str, str]] = []
    with open(scifact / "corpus.jsonl", encoding="utf-8") as f:
        for number, line in enumerate(f):
            if number < skip:
                continue
            if len(records) == count:
                break
            record = json.loads(line)
            records.append((record["_id"], record.get("title") or "", record.get("text") or ""))
    return records


# --- the measurements ----------------------------------------------------------------------

def measure_idle(watcher: WatchingProcess, seconds: float) -> dict[str, Any]:
    builds = watcher.builds()
    cpu0, t0 = watcher.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = watcher.cpu_seconds(), time.monotonic()
    share = (cpu1 - cpu0) / (t1 - t0)
    logger.info("idle: %.3f CPU s in %.1f s = %.3f%% of a core", cpu1 - cpu0, t1 - t0,
                100 * share)
    return {"seconds": round(t1 - t0, 2), "cpu_seconds": round(cpu1 - cpu0, 3),
            "core_percent": round(100 * share, 4), "builds_meanwhile": watcher.builds() - builds}


def measure_edits(watcher: WatchingProcess, finds: Callable[[str], bool], files: list[Path],
                  edits: int, rng: random.Random, poll: float, pause: float) -> dict[str, Any]:
    step = max(1, len(files) // edits)
    latencies: list[float] = []
    builds_before = watcher.builds()
    for number in range(edits):
        path = files[(number * step + step // 2) % len(files)]
        word = unique_word(rng, f"edit{number}")
        started = time.perf_counter()
        append_sentence(path, word)
        latencies.append(wait_until_found(finds, word, started, poll))
        logger.info("edit %d (%s): searchable after %.2f s", number + 1, path.name,
                    latencies[-1])
        time.sleep(pause)
    builds = watcher.quiet_for(2.0) - builds_before
    return {
        "edits": edits,
        "seconds": [round(s, 3) for s in latencies],
        "p50": round(percentile(latencies, 50), 3),
        "p95": round(percentile(latencies, 95), 3),
        "max": round(max(latencies), 3),
        "builds": builds,
    }


@dataclass
class LoadCounts:
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    generations: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, table: dict[str, int]) -> None:
        with self.lock:
            table[key] = table.get(key, 0) + 1


def measure_load(watcher: WatchingProcess, port: int, service_log: Path, files: list[Path],
                 clients: int, seconds: float, edit_every: float, rng: random.Random,
                 queries: list[str]) -> dict[str, Any]:
    """``clients`` threads querying the service on ``port`` while files are edited."""
    counts = LoadCounts()
    stop = threading.Event()
    next_query = iter(queries)
    query_lock = threading.Lock()

    def take() -> str:
        with query_lock:
            return next(next_query, None) or unique_word(rng, "q")

    def client() -> None:
        http = HttpClient(port, timeout=30)
        try:
            while not stop.is_set():
                path = search_path(take())
                started = time.perf_counter()
                try:
                    status, body = http.get(path)
                except Exception as e:  # a failure, counted, never retried
                    counts.add(type(e).__name__, counts.errors)
                    continue
                elapsed = time.perf_counter() - started
                counts.add(str(status), counts.statuses)
                with counts.lock:
                    counts.latencies.append(elapsed)
                if status == 200:
                    generation = json.loads(body).get("index", {}).get("generation", "?")
                    counts.add(generation, counts.generations)
        finally:
            http.close()

    builds_before = watcher.builds()
    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    edited = []
    number = 0
    try:
        while time.monotonic() - started < seconds:
            path = files[rng.randrange(len(files))]
            append_sentence(path, unique_word(rng, f"load{number}"))
            edited.append(path.name)
            number += 1
            time.sleep(min(edit_every, max(0.0, seconds - (time.monotonic() - started))))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    builds = watcher.builds() - builds_before
    total = sum(counts.statuses.values()) + sum(counts.errors.values())
    failed = total - counts.statuses.get("200", 0)
    logger.info("load: %d requests, %d failed, %d builds published", total, failed, builds)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "edits": len(edited),
        "builds_published": builds,
        "requests": total,
        "failed": failed,
        "statuses": counts.statuses,
        "errors": counts.errors,
        "generations_answering": len(counts.generations),
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(1000 * percentile(counts.latencies, 50), 1),
        "p99_ms": round(1000 * percentile(counts.latencies, 99), 1),
        "service_reloads_logged": service_log.read_text(errors="replace").count(
            "serving generation"),
    }


def measure_burst(watcher: WatchingProcess, reader: Reader, docs: Path, burst: int, skip: int,
                  scifact: Path, rng: random.Random, poll: float) -> dict[str, Any]:
    records = scifact_records(scifact, skip, burst)
    searcher = reader.refresh()
    before = searcher.document_count if searcher else 0
    expected = before + len(records)
    target = docs / "burst"
    target.mkdir()
    words = []
    builds_before = watcher.builds()
    started = time.perf_counter()
    for corpus_id, title, text in records:
        word = unique_word(rng, "burst")
        words.append(word)
        (target / f"{corpus_id}.txt").write_text(
            f"{title}\n\n{text} A reviewer added the note {word} to this abstract.\n",
            encoding="utf-8")
    written = time.perf_counter() - started
    logger.info("burst: %d files written in %.2f s", len(records), written)
    searchable = wait_for_generation(
        watcher, reader, lambda searcher: searcher.document_count >= expected, started, poll,
        "the burst")
    searcher = reader.refresh()
    assert searcher is not None
    logger.info("burst: all %d documents in the live generation after %.1f s", len(records),
                searchable)
    builds = watcher.quiet_for(5.0) - builds_before
    found = sum(reader.finds(word) for word in words)
    return {
        "files": len(records),
        "write_seconds": round(written, 2),
        "all_searchable_seconds": round(searchable, 2),
        "builds": builds,
        "words_found": found,
        "documents_after": searcher.document_count,
    }


def measure_mixed_burst(watcher: WatchingProcess, reader: Reader, docs: Path, size: int,
                        rng: random.Random, poll: float) -> dict[str, Any]:
    """A ``git checkout``: ``size`` existing documents at once, a third each modified,
    deleted, and renamed into another subfolder (the modified ones take the remainder)."""
    files = sorted(docs.glob("*.txt"))
    rng.shuffle(files)
    files = files[:size]
    third = len(files) // 3
    deleted, renamed, modified = files[:third], files[third:2 * third], files[2 * third:]
    words = []
    builds_before = watcher.builds()
    started = time.perf_counter()
    for path in modified:
        words.append(unique_word(rng, "mixed"))
        append_sentence(path, words[-1])
    for path in deleted:
        path.unlink()
    (docs / "checkout").mkdir(exist_ok=True)
    for path in renamed:
        path.rename(docs / "checkout" / f"renamed-{path.name}")
    written = time.perf_counter() - started
    expected = {str(path.relative_to(docs)) for path in docs.rglob("*.txt")}
    logger.info("mixed burst: %d modified, %d deleted, %d renamed in %.2f s", len(modified),
                len(deleted), len(renamed), written)
    # Done at the first generation whose documents are the folder's and which finds every
    # new word: deletes gone, renames under their new names, edits searchable.
    reflected = wait_for_generation(
        watcher, reader, lambda searcher: sources_of(searcher.folder) == expected
        and all(reader.finds(word) for word in words), started, poll, "the mixed burst")
    logger.info("mixed burst: the live generation matches the folder after %.1f s", reflected)
    builds = watcher.quiet_for(5.0) - builds_before
    return {
        "files": len(files), "modified": len(modified), "deleted": len(deleted),
        "renamed": len(renamed),
        "write_seconds": round(written, 2),
        "all_reflected_seconds": round(reflected, 2),
        "builds": builds,
        "documents_after": len(expected),
    }


def wait_for_generation(watcher: WatchingProcess, reader: Reader,
                        done: Callable[[Searcher], bool], started: float, poll: float,
                        what: str) -> float:
    """Seconds from ``started`` (perf_counter) to the first live generation that is
    ``done``; each generation is checked once."""
    seen = None
    while True:
        searcher = reader.refresh()
        if searcher is not None and searcher.generation != seen:
            seen = searcher.generation
            if done(searcher):
                return time.perf_counter() - started
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"{what} was not indexed within {TIMEOUT:.0f} s:\n"
                               + watcher.tail())
        time.sleep(poll)


def sources_of(generation: Path) -> set[str]:
    """The sources of a generation's documents."""
    uri = f"file:{generation / STORE_FILE}?mode=ro&immutable=1"
    db = sqlite3.connect(uri, uri=True)
    try:
        return {source for (source,) in db.execute("SELECT source FROM documents")}
    finally:
        db.close()


# --- the run -------------------------------------------------------------------------------

def benchmark(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``rebuild-index --watch`` beside this process, which reads the index folder itself;
    ``--in-service``: ``python -m service --watch``, asked over HTTP."""
    rng = random.Random(args.seed)
    docs, index = work / "docs", work / "index"
    written = write_scifact_docs(docs, args.documents, args.scifact)
    files = sorted(docs.glob("*.txt"))
    cache_dir = ROOT / Config.cache_dir
    env = {**os.environ, "SEARCH_CACHE_DIR": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    results: dict[str, Any] = {"benchmark": "watch", "documents": written,
                               "in_service": args.in_service, "machine_before": machine_state()}
    watcher: WatchingProcess
    reader: Reader | HttpReader
    if args.in_service:
        watcher = WatchingService(docs, index, work / "service.log", env)
        reader = HttpReader(watcher.port)
    else:
        embedder = Embedder.load(find_model(DEFAULT_MODEL), "onnx", "onnx", cache_dir)
        watcher = Watcher(docs, index, work / "watch.log", env)
        reader = Reader(index, embedder)
    try:
        started = time.perf_counter()
        watcher.wait_until_ready(timeout=1800)
        results["first_build_seconds"] = round(time.perf_counter() - started, 1)
        watcher.quiet_for(3.0)
        if args.idle_seconds > 0:
            results["idle"] = measure_idle(watcher, args.idle_seconds)
        if args.edits > 0:
            results["edits"] = measure_edits(watcher, reader.finds, files, args.edits, rng,
                                             args.poll, args.pause)
        if args.load_seconds > 0 and args.clients > 0:
            queries = read_queries(SCIFACT_QUERIES) if SCIFACT_QUERIES.exists() else []
            with queried_service(watcher, index, work) as (port, service_log):
                results["load"] = measure_load(watcher, port, service_log, files, args.clients,
                                               args.load_seconds, args.load_edit_every, rng,
                                               queries)
            watcher.quiet_for(3.0)
        # The bursts read the index folder directly (Reader): not with --in-service.
        if args.burst > 0 and isinstance(reader, Reader):
            results["burst"] = measure_burst(watcher, reader, docs, args.burst, args.documents,
                                             args.scifact, rng, args.poll)
        if args.mixed_burst > 0 and isinstance(reader, Reader):
            results["mixed_burst"] = measure_mixed_burst(watcher, reader, docs,
                                                         args.mixed_burst, rng, args.poll)
        results["builds_total"] = watcher.builds()
    finally:
        reader.close()
        results["watcher_exit"] = watcher.stop()
    results["machine_after"] = machine_state()
    return results


@contextlib.contextmanager
def queried_service(watcher: WatchingProcess, index: Path,
                    work: Path) -> Iterator[tuple[int, Path]]:
    """The port and log of the service the load's clients query: the watching service
    itself, or a ``python -m service`` started on the watcher's index folder (hot reload)."""
    if isinstance(watcher, WatchingService):
        yield watcher.port, watcher.log
        return
    with Service(index, log_dir=work) as service:
        yield service.port, service.log_path


def report(r: dict[str, Any]) -> str:
    before, after = r["machine_before"], r["machine_after"]
    how = ("python -m service --watch, asked over HTTP" if r["in_service"] else
           "rebuild-index --watch, the index read directly")
    lines = [
        f"Watching {r['documents']} SciFact documents ({how}); "
        f"first build {r['first_build_seconds']} s; "
        f"load average {before['load_average']} before, {after['load_average']} after; "
        f"{before['cpus_usable']} CPUs ({before['cpu_model']}), {before['time']}.",
        "",
        "| measured | result | target |",
        "|---|---|---|",
    ]
    if "idle" in r:
        i = r["idle"]
        lines.append(f"| idle CPU over {i['seconds']:.0f} s | {i['core_percent']:.3f} % of a "
                     f"core ({i['cpu_seconds']} CPU s, {i['builds_meanwhile']} builds) "
                     "| well under 1 % |")
    if "edits" in r:
        e = r["edits"]
        verdict = "met" if e["p95"] <= 3.0 else "missed"
        lines.append(f"| save-to-searchable, {e['edits']} edits | p50 {e['p50']:.2f} s, "
                     f"p95 {e['p95']:.2f} s, max {e['max']:.2f} s ({e['builds']} builds) "
                     f"| p95 <= 3 s: {verdict} |")
    if "load" in r:
        lo = r["load"]
        lines.append(f"| {lo['clients']} clients for {lo['seconds']:.0f} s, {lo['edits']} edits "
                     f"| {lo['failed']} failed of {lo['requests']} ({lo['requests_per_second']} "
                     f"req/s, p50 {lo['p50_ms']} ms, p99 {lo['p99_ms']} ms); "
                     f"{lo['builds_published']} builds published, answers from "
                     f"{lo['generations_answering']} generations | 0 failed |")
    if "burst" in r:
        b = r["burst"]
        lines.append(f"| burst of {b['files']} new files (written in {b['write_seconds']} s) "
                     f"| {b['builds']} builds; all searchable after "
                     f"{b['all_searchable_seconds']} s; {b['words_found']} of {b['files']} new "
                     "words found | one or a few builds |")
    if "mixed_burst" in r:
        m = r["mixed_burst"]
        lines.append(f"| mixed burst of {m['files']} files ({m['modified']} modified, "
                     f"{m['deleted']} deleted, {m['renamed']} renamed, in "
                     f"{m['write_seconds']} s) | {m['builds']} builds; the index matches the "
                     f"folder after {m['all_reflected_seconds']} s | one or a few builds |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000, help="SciFact documents watched")
    parser.add_argument("--edits", type=int, default=20,
                        help="single-file edits timed to searchable (0: skip)")
    parser.add_argument("--burst", type=int, default=1000,
                        help="new files written at once (0: skip; not with --in-service)")
    parser.add_argument("--mixed-burst", type=int, default=0,
                        help="existing files changed at once, a third each modified, deleted "
                             "and renamed (0: skip; not with --in-service)")
    parser.add_argument("--in-service", action="store_true",
                        help="the watcher inside `python -m service --watch`: idle CPU, edits "
                             "and load measured through it")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="idle CPU measured over this long (0: skip)")
    parser.add_argument("--load-seconds", type=float, default=30.0,
                        help="queries through the service while editing (0: skip)")
    parser.add_argument("--clients", type=int, default=16, help="client threads under load")
    parser.add_argument("--load-edit-every", type=float, default=3.0,
                        help="seconds between edits under load")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between checks")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between an edit being searchable and the next edit")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--scifact", type=Path, default=SCIFACT,
                        help="BEIR SciFact folder (corpus.jsonl)")
    parser.add_argument("--work-dir", type=Path,
                        help="an empty folder for docs, index and logs (default: a temporary "
                             "folder, removed)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.work_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-watch-") as temporary:
            results = benchmark(Path(temporary), args)
    else:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        results = benchmark(args.work_dir, args)
    print(report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
