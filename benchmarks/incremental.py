"""Incremental rebuild after changing 1 document in 1,000, against a full rebuild, same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/incremental.py [--docs 1000] [--rounds 3] \
        [--no-script] [--json var/bench/incremental.json]

What it measures (issue 5, benchmark 4; target: incremental <= 5% of a full rebuild), on the
first ``--docs`` SciFact documents written as .txt files (title line + abstract):

* in process, model loaded once (as a long-lived process would): ``build_index`` after one
  document changed, against ``build_index(full=True)`` of the same folder;
* the same pair through ``scripts/rebuild_index.py`` as subprocesses (unless ``--no-script``):
  what a user waits for, Python start-up, imports and the model load included.

Method: each variant keeps its own index folder (the incremental ones are built once,
untimed, before the rounds). In each round one different document gets a sentence appended,
then every variant runs once, in an order rotated by one each round, so every incremental
build sees exactly one changed document (checked) whatever ran before it. Ratios
incremental / full are taken within a round; the table shows medians over rounds. The
incremental rows also show how many passages were re-embedded and the time spent embedding them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import click  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from indexing import (  # noqa: E402
    ROOT,
    SCIFACT,
    TimedEmbedder,
    load_average,
    median,
    run_script,
    write_scifact_docs,
)

from index import Config, build_index, find_model  # noqa: E402

logger = logging.getLogger("bench.incremental")


@dataclass
class Variant:
    name: str
    incremental: bool
    script: bool
    index_dir: Path
    seconds: list[float] = field(default_factory=list)
    embedded: list[int] = field(default_factory=list)  # passages re-embedded
    embed_seconds: list[float] = field(default_factory=list)


def change_document(path: Path, round_no: int) -> None:
    """Append a sentence to the document's abstract: one changed document, a realistic edit."""
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(f"{text} This sentence was added in round {round_no}.\n", encoding="utf-8")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--docs", "doc_count", type=click.IntRange(2), default=1000, show_default=True,
              help="SciFact documents in the folder.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Rounds; each changes a different document.")
@click.option("--script/--no-script", default=True, show_default=True,
              help="Also time scripts/rebuild_index.py (incremental and --full) as subprocesses.")
@click.option("--scifact", type=click.Path(path_type=Path, file_okay=False), default=SCIFACT,
              show_default=True, help="BEIR SciFact folder (corpus.jsonl).")
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where docs and indexes go.  [default: a temporary folder, removed]")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as JSON here.")
@click.option("-v", "--verbose", is_flag=True, help="Log every timing.")
def main(
    doc_count: int, rounds: int, script: bool, scifact: Path, work_dir: Path | None,
    json_out: Path | None, verbose: bool,
) -> None:
    """Time of an incremental rebuild (1 changed document) against a full rebuild."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s %(message)s")
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-incremental-") as temporary:
            result = benchmark(Path(temporary), doc_count, rounds, script, scifact)
    else:
        work_dir.mkdir(parents=True, exist_ok=True)
        result = benchmark(work_dir, doc_count, rounds, script, scifact)
    click.echo(table(result))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")


def benchmark(
    work: Path, doc_count: int, rounds: int, script: bool, scifact: Path
) -> dict[str, Any]:
    load_before = load_average()
    docs = work / "docs"
    written = write_scifact_docs(docs, doc_count, scifact)
    files = sorted(docs.glob("*.txt"))
    base = Config(docs_dir=docs, cache_dir=ROOT / Config.cache_dir)  # the script's, from ROOT
    embedder = TimedEmbedder.load(find_model(base.model), base.passage_backend,
                                  base.passage_backend, base.cache_dir)
    variants = [
        Variant("build_index, 1 changed (incremental)", True, False, work / "index-inc"),
        Variant("build_index --full", False, False, work / "index-full"),
    ]
    if script:
        variants += [
            Variant("rebuild_index.py, 1 changed (subprocess)", True, True,
                    work / "index-script-inc"),
            Variant("rebuild_index.py --full (subprocess)", False, True,
                    work / "index-script-full"),
        ]
    # Untimed first builds, for the incremental variants only (a full rebuild reuses nothing).
    passages = build_index(_config(base, variants[0]), full=True, embedder=embedder).passages
    if script:
        run_script(docs, variants[2].index_dir, full=True)

    # Spread the changed documents over the folder: a different one every round.
    step = max(1, len(files) // rounds)
    changed = []
    for round_no in tqdm(range(rounds), desc="Rounds", unit="round", file=sys.stderr):
        target = files[(round_no * step + step // 2) % len(files)]
        change_document(target, round_no + 1)
        changed.append(target.name)
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            _run(variant, base, embedder, docs)
            logger.info("round %d %s: %.2f s", round_no + 1, variant.name, variant.seconds[-1])

    pairs = [(variants[i], variants[i + 1]) for i in range(0, len(variants), 2)]
    return {
        "benchmark": "incremental",
        "documents": written,
        "passages": passages,
        "rounds": rounds,
        "changed_documents": changed,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "variants": [
            {
                "name": v.name,
                "seconds": [round(s, 3) for s in v.seconds],
                "median_seconds": round(median(v.seconds), 3),
                "embedded": v.embedded,
                "embed_seconds": [round(s, 3) for s in v.embed_seconds],
            }
            for v in variants
        ],
        "ratios": [
            {
                "incremental": inc.name,
                "full": full.name,
                "per_round": [round(i / f, 4) for i, f in zip(inc.seconds, full.seconds,
                                                              strict=True)],
                "median": round(median([i / f for i, f in zip(inc.seconds, full.seconds,
                                                              strict=True)]), 4),
            }
            for inc, full in pairs
        ],
    }


def _config(base: Config, variant: Variant) -> Config:
    return Config(**{**vars(base), "index_dir": variant.index_dir})


def _run(variant: Variant, base: Config, embedder: TimedEmbedder, docs: Path) -> None:
    """One timed rebuild; checks an incremental one saw exactly one changed document."""
    if variant.script:
        started = time.perf_counter()
        summary = run_script(docs, variant.index_dir, full=not variant.incremental)
        variant.seconds.append(time.perf_counter() - started)
        if variant.incremental:
            if " 1 changed, " not in summary or " 0 added, " not in summary:
                raise click.ClickException(f"expected one changed document:\n{summary}")
            found = re.search(r"(\d+) embedded", summary)
            variant.embedded.append(int(found.group(1)) if found else -1)
        return
    embedder.embed_seconds = 0.0
    started = time.perf_counter()
    report = build_index(_config(base, variant), full=not variant.incremental, embedder=embedder)
    variant.seconds.append(time.perf_counter() - started)
    variant.embed_seconds.append(embedder.embed_seconds)
    if variant.incremental:
        if len(report.changed) != 1 or report.added or report.removed:
            raise click.ClickException(
                f"expected one changed document, got {len(report.changed)} changed, "
                f"{len(report.added)} added, {len(report.removed)} removed"
            )
        variant.embedded.append(report.embedded)


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Rebuilding {result['documents']} SciFact documents ({result['passages']} passages) "
        f"after changing 1 document; median of {result['rounds']} rounds, load average "
        f"{result['load_average_before'][0]} before / {result['load_average_after'][0]} after.",
        "",
        "| variant | median s | rounds (s) | passages re-embedded | embed-only s |",
        "|---|---:|---|---:|---:|",
    ]
    for v in result["variants"]:
        rounds = ", ".join(f"{s:.2f}" for s in v["seconds"])
        embedded = str(int(median([float(e) for e in v["embedded"]]))) if v["embedded"] else "all"
        embed = f"{median(v['embed_seconds']):.2f}" if v["embed_seconds"] else ""
        lines.append(f"| {v['name']} | {v['median_seconds']:.2f} | {rounds} | {embedded} "
                     f"| {embed} |")
    lines += ["", "| incremental / full | median | per round | target |", "|---|---:|---|---|"]
    for r in result["ratios"]:
        per_round = ", ".join(f"{x:.1%}" for x in r["per_round"])
        verdict = "met" if r["median"] <= 0.05 else "missed"
        lines.append(f"| {r['incremental']} / {r['full']} | {r['median']:.1%} | {per_round} "
                     f"| <= 5%: {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
