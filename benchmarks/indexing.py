"""Indexing throughput: the real rebuild path against a bare model call, in the same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/indexing.py [--docs 500] [--rounds 3] \
        [--build-batch-size 32 --build-batch-size 8] [--passage-backend onnx-int8] [--no-script] \
        [--json var/bench/indexing.json]

What it measures (issue 5, benchmark 3), on the first ``--docs`` SciFact documents written as
.txt files (title line, blank line, abstract; the evaluation's own writer):

* ``build_index`` (full rebuild, model already loaded), once per ``--build-batch-size``: whole
  build time / passages, so loading, chunking (with the tokenizer's counts), embedding, SQLite
  + full-text writing, FAISS, fsync and the manifest all count. The embed-only part is timed
  separately by wrapping ``Embedder.embed_passages`` (``BuildReport`` does not expose it).
* ``scripts/rebuild_index.py --full`` as a subprocess (unless ``--no-script``): what a user
  waits for, including Python start-up, imports and the model load; configured batch size.
* the baseline, plain ``SentenceTransformer.encode(passages, batch_size=32)`` of exactly the
  passage texts the build embedded, read back from its passages.sqlite.

Method, because the 2 cores are shared: one untimed warm-up build, then ``--rounds`` rounds; in
each round every variant runs once, in an order rotated by one each round; passages/s ratios
are taken against the baseline *of the same round*, and the table shows medians over rounds.
It also compares the stored vectors with the baseline's (cosine; 1.0 on torch and float ONNX,
a little below on int8: docs/quality.md says how far).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import click  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from index import (  # noqa: E402
    Collection,
    Config,
    Embedder,
    IndexFolder,
    build_index,
    find_model,
    write_beir_documents,
)
from index.config import BACKENDS  # noqa: E402
from index.store import STORE_FILE  # noqa: E402
from index.vectors.faiss import VECTORS_FILE  # noqa: E402

logger = logging.getLogger("bench.indexing")
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
BASELINE_BATCH = 32


def write_scifact_docs(folder: Path, count: int, scifact: Path = SCIFACT) -> int:
    """The first ``count`` SciFact records as .txt files (title line + abstract)."""
    documents: dict[str, tuple[str, str]] = {}
    with open(scifact / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if len(documents) >= count:
                break
            record = json.loads(line)
            documents[record["_id"]] = (record.get("title") or "", record.get("text") or "")
    write_beir_documents(Collection("scifact", documents, {}, {}), folder)
    return len(documents)


class TimedEmbedder(Embedder):
    """The project's embedder, also adding up the time spent in ``embed_passages``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.embed_seconds = 0.0

    def embed_passages(
        self, texts: list[str], batch_size: int = 32, progress: bool = False
    ) -> NDArray[np.float32]:
        started = time.perf_counter()
        try:
            return super().embed_passages(texts, batch_size, progress)
        finally:
            self.embed_seconds += time.perf_counter() - started


def stored_passages(index_dir: Path) -> list[str]:
    """The live generation's passage texts in rowid order (= vectors.npy rows)."""
    path = IndexFolder(index_dir).current() / STORE_FILE
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT text FROM passages ORDER BY rowid")]
    finally:
        db.close()


def stored_vectors(index_dir: Path) -> NDArray[np.float32]:
    vectors: NDArray[np.float32] = np.load(IndexFolder(index_dir).current() / VECTORS_FILE)
    return vectors


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Variant:
    name: str
    run: Callable[[], float | None]  # does the work once; returns embed-only seconds if known
    baseline: bool = False
    seconds: list[float] = field(default_factory=list)
    embed_seconds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # passages/s over the round's baseline


def run_rounds(variants: list[Variant], rounds: int) -> None:
    """Each round runs every variant once, rotating the order; ratios are within a round."""
    baseline = next(v for v in variants if v.baseline)
    for round_no in tqdm(range(rounds), desc="Rounds", unit="round", file=sys.stderr):
        shift = round_no % len(variants)
        timings: dict[str, float] = {}
        for variant in variants[shift:] + variants[:shift]:
            started = time.perf_counter()
            embed = variant.run()
            timings[variant.name] = time.perf_counter() - started
            variant.seconds.append(timings[variant.name])
            if embed is not None:
                variant.embed_seconds.append(embed)
            logger.info("round %d %s: %.2f s", round_no + 1, variant.name, timings[variant.name])
        for variant in variants:
            # passages/s ratio = baseline time / variant time (same passages)
            variant.ratios.append(timings[baseline.name] / timings[variant.name])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--docs", "doc_count", type=click.IntRange(1), default=500, show_default=True,
              help="SciFact documents to index.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True)
@click.option("--build-batch-size", "batch_sizes", type=click.IntRange(1), multiple=True,
              help="build_index variants, one per batch size (repeatable).  "
                   "[default: the configured batch_size]")
@click.option("--script/--no-script", default=True, show_default=True,
              help="Also time scripts/rebuild_index.py --full as a subprocess.")
@click.option("--scifact", type=click.Path(path_type=Path, file_okay=False), default=SCIFACT,
              show_default=True, help="BEIR SciFact folder (corpus.jsonl).")
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where docs and indexes go.  [default: a temporary folder, removed]")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as JSON here.")
@click.option("--passage-backend", "backend", type=click.Choice(BACKENDS),
              default=Config.passage_backend, show_default=True,
              help="What runs the model in the builds.")
@click.option("-v", "--verbose", is_flag=True, help="Log every timing.")
def main(
    doc_count: int, rounds: int, batch_sizes: tuple[int, ...], script: bool, scifact: Path,
    work_dir: Path | None, json_out: Path | None, backend: str, verbose: bool,
) -> None:
    """Passages/s of a full rebuild against plain SentenceTransformer.encode (batch 32)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s %(message)s")
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-indexing-") as temporary:
            result = benchmark(Path(temporary), doc_count, rounds, batch_sizes, script, scifact,
                               backend)
    else:
        work_dir.mkdir(parents=True, exist_ok=True)
        result = benchmark(work_dir, doc_count, rounds, batch_sizes, script, scifact, backend)
    click.echo(table(result))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")


def benchmark(
    work: Path, doc_count: int, rounds: int, batch_sizes: tuple[int, ...], script: bool,
    scifact: Path, backend: str = Config.passage_backend,
) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    load_before = load_average()
    docs = work / "docs"
    written = write_scifact_docs(docs, doc_count, scifact)
    # The script (run from ROOT) and the in-process builds share one ONNX export.
    base = Config(docs_dir=docs, cache_dir=ROOT / Config.cache_dir, passage_backend=backend)
    batch_sizes = batch_sizes or (base.batch_size,)
    info = find_model(base.model)
    embedder = TimedEmbedder.load(info, backend, backend, base.cache_dir)
    plain = SentenceTransformer(str(info.path), device="cpu", local_files_only=True)

    def build_variant(batch_size: int) -> Variant:
        config = Config(**{**vars(base), "index_dir": work / f"index-bs{batch_size}",
                           "batch_size": batch_size})

        def run() -> float:
            embedder.embed_seconds = 0.0
            build_index(config, full=True, embedder=embedder)
            return embedder.embed_seconds

        return Variant(f"build_index --full, batch {batch_size}", run)

    batch_sizes = tuple(dict.fromkeys(batch_sizes))
    variants = [build_variant(b) for b in batch_sizes]
    # Warm-up (untimed): first model calls, file cache; it also gives the passage texts.
    variants[0].run()
    passages = stored_passages(work / f"index-bs{batch_sizes[0]}")
    plain.encode(passages[:64], batch_size=BASELINE_BATCH, show_progress_bar=False)

    baseline_vectors: list[NDArray[np.float32]] = []

    def encode() -> None:
        vectors = plain.encode(passages, batch_size=BASELINE_BATCH, convert_to_numpy=True,
                               show_progress_bar=False)
        if not baseline_vectors:
            baseline_vectors.append(vectors)

    variants.insert(0, Variant(f"SentenceTransformer.encode, batch {BASELINE_BATCH} (baseline)",
                               lambda: encode(), baseline=True))
    if script:
        def rebuild_script() -> None:
            run_script(docs, work / "index-script", full=True, backend=backend)

        variants.append(Variant("scripts/rebuild_index.py --full (subprocess)", rebuild_script))
    run_rounds(variants, rounds)

    reference = baseline_vectors[0]
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    fidelity = {}
    for batch_size in batch_sizes:
        if stored_passages(work / f"index-bs{batch_size}") != passages:
            raise click.ClickException("builds with different batch sizes stored different text")
        cosines = (stored_vectors(work / f"index-bs{batch_size}") * reference).sum(axis=1)
        fidelity[f"build_index --full, batch {batch_size}"] = {
            "min_cosine": round(float(cosines.min()), 5),
            "mean_cosine": round(float(cosines.mean()), 5),
        }
    return {
        "benchmark": "indexing",
        "documents": written,
        "passages": len(passages),
        "rounds": rounds,
        "backend": embedder.passage_backend,
        "torch_threads": _torch_threads(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "variants": [
            {
                "name": v.name,
                "baseline": v.baseline,
                "seconds": [round(s, 3) for s in v.seconds],
                "median_seconds": round(median(v.seconds), 3),
                "passages_per_second": round(len(passages) / median(v.seconds), 1),
                "ratio_vs_baseline": round(median(v.ratios), 3),
                "embed_seconds": [round(s, 3) for s in v.embed_seconds],
                "embed_passages_per_second": (
                    round(len(passages) / median(v.embed_seconds), 1) if v.embed_seconds
                    else None
                ),
                "embed_share": (
                    round(median([e / s for e, s in zip(v.embed_seconds, v.seconds,
                                                        strict=True)]), 3)
                    if v.embed_seconds else None
                ),
                **fidelity.get(v.name, {}),
            }
            for v in variants
        ],
    }


def run_script(
    docs: Path, index_dir: Path, full: bool, backend: str = Config.passage_backend
) -> str:
    """Run the rebuild script as a user would; returns its summary (stdout)."""
    command = [sys.executable, str(ROOT / "scripts" / "rebuild_index.py"), "--docs", str(docs),
               "--index-dir", str(index_dir), "--quiet", *(["--full"] if full else [])]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                               env={**os.environ, "SEARCH_PASSAGE_BACKEND": backend})
    if completed.returncode != 0:
        raise click.ClickException(f"rebuild script failed: {completed.stderr.strip()}")
    return completed.stdout


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Indexing {result['documents']} SciFact documents, {result['passages']} passages; "
        f"median of {result['rounds']} rounds, build backend {result['backend']}, "
        f"torch threads {result['torch_threads']}, "
        f"load average {result['load_average_before'][0]} before / "
        f"{result['load_average_after'][0]} after.",
        "",
        "| variant | median s | passages/s | x baseline | embed-only s | embed passages/s "
        "| embed share | cosine to baseline, min / mean |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in result["variants"]:
        embed = v["embed_seconds"]
        cells = [
            v["name"], f"{v['median_seconds']:.2f}", f"{v['passages_per_second']:.1f}",
            f"{v['ratio_vs_baseline']:.2f}",
            f"{median(embed):.2f}" if embed else "",
            f"{v['embed_passages_per_second']:.1f}" if embed else "",
            f"{v['embed_share']:.0%}" if embed else "",
            f"{v['min_cosine']:.4f} / {v['mean_cosine']:.4f}" if "min_cosine" in v else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
