"""Watch mode: how soon a saved file is searchable, what a burst costs, and the idle watcher.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/watch.py [--documents 1000] [--edits 20] \
        [--burst 1000] [--idle-seconds 60] [--load-seconds 30 --clients 16] \
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

Every process started here is stopped here (SIGTERM, then waited for).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
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

from index import (  # noqa: E402
    DEFAULT_MODEL,
    Config,
    Embedder,
    IndexFolder,
    Searcher,
    SearchRequest,
    find_model,
)

logger = logging.getLogger("bench.watch")

SCRIPT = ROOT / "scripts" / "rebuild_index.py"
# One line per build in the watcher's log (stderr); the first build logs one too.
BUILT = re.compile(r"indexed changes: .*?; published (\S+) in")
TIMEOUT = 300.0  # seconds to wait for any one thing before giving up


# --- the watcher subprocess ----------------------------------------------------------------

class Watcher:
    """``rebuild_index.py --watch`` on ``docs``; its stderr goes to ``log``."""

    def __init__(self, docs: Path, index: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        command = [sys.executable, str(SCRIPT), "--watch", "--docs", str(docs),
                   "--index-dir", str(index)]
        logger.info("starting %s", " ".join(command))
        with open(log, "wb") as err, open(log.with_suffix(".out"), "wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err,
                                            stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.process.pid

    def builds(self) -> int:
        """Builds published so far (the first one included)."""
        return len(BUILT.findall(self.log.read_text(errors="replace")))

    def wait_for_builds(self, count: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.builds() < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"the watcher exited with {self.process.returncode}:\n"
                                   + self.tail())
            if time.monotonic() > deadline:
                raise RuntimeError(f"no build {count} within {timeout:.0f} s:\n" + self.tail())
            time.sleep(0.1)

    def quiet_for(self, seconds: float, timeout: float = TIMEOUT) -> int:
        """Wait until ``seconds`` pass without a new build; the number of builds then."""
        deadline = time.monotonic() + timeout
        count, since = self.builds(), time.monotonic()
        while time.monotonic() - since < seconds and time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.builds()
            if now != count:
                count, since = now, time.monotonic()
        return count

    def cpu_seconds(self) -> float:
        """utime + stime of the watcher process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the ")" closing the command name: state is field 3, utime 14, stime 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


# --- the in-process reader of the newest generation -----------------------------------------

class Reader:
    """Searches the live generation, re-opened whenever CURRENT names a new one."""

    def __init__(self, index: Path, embedder: Embedder) -> None:
        self.folder = IndexFolder(index)
        self.embedder = embedder
        self.searcher: Searcher | None = None

    def refresh(self) -> Searcher | None:
        live = self.folder.current_or_none()
        if live is None:
            return self.searcher
        if self.searcher is None or self.searcher.generation != live.name:
            try:
                searcher = Searcher.open(live, self.embedder)
            except Exception as e:  # pruned or replaced under us: the next poll sees the new one
                logger.debug("cannot open %s yet: %s", live.name, e)
                return self.searcher
            if self.searcher is not None:
                self.searcher.close()
            self.searcher = searcher
        return self.searcher

    def finds(self, word: str) -> bool:
        searcher = self.refresh()
        if searcher is None:
            return False
        hits = searcher.search(SearchRequest(word, k=5, mode="lexical")).hits
        return any(word in hit.passage.text for hit in hits)

    def wait_until_found(self, word: str, started: float, poll: float,
                         timeout: float = TIMEOUT) -> float:
        """Seconds from ``started`` (perf_counter) to the first query that finds ``word``."""
        while True:
            if self.finds(word):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{word!r} not searchable within {timeout:.0f} s")
            time.sleep(poll)

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
            self.searcher = None


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
    records = []
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

def measure_idle(watcher: Watcher, seconds: float) -> dict[str, Any]:
    builds = watcher.builds()
    cpu0, t0 = watcher.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = watcher.cpu_seconds(), time.monotonic()
    share = (cpu1 - cpu0) / (t1 - t0)
    logger.info("idle: %.3f CPU s in %.1f s = %.3f%% of a core", cpu1 - cpu0, t1 - t0,
                100 * share)
    return {"seconds": round(t1 - t0, 2), "cpu_seconds": round(cpu1 - cpu0, 3),
            "core_percent": round(100 * share, 4), "builds_meanwhile": watcher.builds() - builds}


def measure_edits(watcher: Watcher, reader: Reader, files: list[Path], edits: int,
                  rng: random.Random, poll: float, pause: float) -> dict[str, Any]:
    step = max(1, len(files) // edits)
    latencies: list[float] = []
    builds_before = watcher.builds()
    for number in range(edits):
        path = files[(number * step + step // 2) % len(files)]
        word = unique_word(rng, f"edit{number}")
        started = time.perf_counter()
        append_sentence(path, word)
        latencies.append(reader.wait_until_found(word, started, poll))
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


def measure_load(watcher: Watcher, index: Path, work: Path, files: list[Path], clients: int,
                 seconds: float, edit_every: float, rng: random.Random,
                 queries: list[str]) -> dict[str, Any]:
    counts = LoadCounts()
    stop = threading.Event()
    next_query = iter(queries)
    query_lock = threading.Lock()

    def take() -> str:
        with query_lock:
            return next(next_query, None) or unique_word(rng, "q")

    with Service(index, log_dir=work) as service:
        def client() -> None:
            http = HttpClient(service.port, timeout=30)
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
        service_log = service.log_path.read_text(errors="replace")
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
        "service_reloads_logged": service_log.count("serving generation"),
    }


def measure_burst(watcher: Watcher, reader: Reader, docs: Path, burst: int, skip: int,
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
    while True:
        searcher = reader.refresh()
        if searcher is not None and searcher.document_count >= expected:
            break
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"the burst was not indexed within {TIMEOUT:.0f} s:\n"
                               + watcher.tail())
        time.sleep(poll)
    searchable = time.perf_counter() - started
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


# --- the run -------------------------------------------------------------------------------

def benchmark(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    docs, index = work / "docs", work / "index"
    written = write_scifact_docs(docs, args.documents, args.scifact)
    files = sorted(docs.glob("*.txt"))
    cache_dir = ROOT / Config.cache_dir
    env = {**os.environ, "SEARCH_CACHE_DIR": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    embedder = Embedder.load(find_model(DEFAULT_MODEL), "onnx", "onnx", cache_dir)
    results: dict[str, Any] = {"benchmark": "watch", "documents": written,
                               "machine_before": machine_state()}
    watcher = Watcher(docs, index, work / "watch.log", env)
    reader = Reader(index, embedder)
    try:
        started = time.perf_counter()
        watcher.wait_for_builds(1, timeout=1800)
        results["first_build_seconds"] = round(time.perf_counter() - started, 1)
        watcher.quiet_for(3.0)
        if args.idle_seconds > 0:
            results["idle"] = measure_idle(watcher, args.idle_seconds)
        if args.edits > 0:
            results["edits"] = measure_edits(watcher, reader, files, args.edits, rng, args.poll,
                                             args.pause)
        if args.load_seconds > 0 and args.clients > 0:
            queries = read_queries(SCIFACT_QUERIES) if SCIFACT_QUERIES.exists() else []
            results["load"] = measure_load(watcher, index, work, files, args.clients,
                                           args.load_seconds, args.load_edit_every, rng,
                                           queries)
            watcher.quiet_for(3.0)
        if args.burst > 0:
            results["burst"] = measure_burst(watcher, reader, docs, args.burst, args.documents,
                                             args.scifact, rng, args.poll)
        results["builds_total"] = watcher.builds()
    finally:
        reader.close()
        results["watcher_exit"] = watcher.stop()
    results["machine_after"] = machine_state()
    return results


def report(r: dict[str, Any]) -> str:
    before, after = r["machine_before"], r["machine_after"]
    lines = [
        f"Watching {r['documents']} SciFact documents; first build {r['first_build_seconds']} s; "
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
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000, help="SciFact documents watched")
    parser.add_argument("--edits", type=int, default=20,
                        help="single-file edits timed to searchable (0: skip)")
    parser.add_argument("--burst", type=int, default=1000,
                        help="new files written at once (0: skip)")
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
