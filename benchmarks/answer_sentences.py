"""The sentence that answers: how often the marked sentences hold the answer, what marking
costs per query, and what storing sentence vectors at index time would cost instead.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/answer_sentences.py \
        --scifact-index var/eval/scifact/index --markdown var/bench/answer_sentences.md

What it measures:

  share     On the sample-corpus questions (eval/sample_queries.jsonl and the shared seed
            queries; {"q", "doc", "answers"}), searched in the default (hybrid) mode with
            k=10 and highlights on: the top-ranked hit that holds an answer (from ``doc``,
            its whitespace-collapsed lowercased text holding one of ``answers``), and whether
            an answer lies inside that hit's marked sentences. Questions with no such hit in
            the top 10 are left out of the share (and counted). Next to the rule the
            service uses, the same for other margins of the "next best sentence" rule and for
            the first sentence, with the sentences and the share of text each marks.
  latency   ``Searcher.search`` with and without highlights, k=10, default mode: per step two
            fresh queries (never a cached query vector), the two calls in alternating order.
  storage   What index-time sentence vectors would add: the sentences of every passage of
            each index (a one-sentence passage needs none: its vector is the passage's),
            times a float32 vector plus two offsets; and the time to embed them, from timing
            a sample of them.

Target (issue 17): share >= 0.9.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from common import (
    SAMPLE_QUERY_FILES,
    QueryPool,
    build_sample_index,
    copy_index,
    fmt,
    load_like_service,
    machine_state,
    markdown_table,
    percentile,
    query_sources,
    report_options,
    service_embedder,
    setup_logging,
    write_outputs,
)
from tqdm import tqdm

from index import Embedder, Hit, Searcher, SearchRequest, load_seed_queries
from index.answer_sentences import (
    SECOND_SENTENCE_MARGIN,
    ScoredSentences,
    best_sentences,
    score_sentences,
)
from index.chunking import sentence_spans
from index.evaluation import SeedQuery, answer_spans, marked_whole
from index.store import STORE_FILE, PassageStore

logger = logging.getLogger("bench.answer_sentences")

TARGET_SHARE = 0.9
MARGINS = (0.0, 0.02, 0.05, 0.1, 0.2)
FIRST_SENTENCE = "first sentence"
OFFSET_BYTES = 8  # two int32 offsets per stored sentence
Span = tuple[int, int]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--queries", "n_queries", type=click.IntRange(10), default=100, show_default=True,
              help="Measured latency steps per index (each uses 2 fresh queries).")
@click.option("--warmup", type=click.IntRange(0), default=5, show_default=True,
              help="Unmeasured latency steps per index first.")
@click.option("--scifact-index", type=click.Path(path_type=Path, file_okay=False),
              help="Also measure latency and storage on this SciFact index (its live "
                   "generation is copied, never modified).")
@click.option("--embed-sample", type=click.IntRange(16), default=512, show_default=True,
              help="Sentences timed to estimate the index-time embedding cost.")
@report_options()
def main(n_queries: int, warmup: int, scifact_index: Path | None, embed_sample: int,
         markdown_out: Path | None, json_out: Path | None, verbose: bool) -> None:
    """Share of questions whose answer the marked sentences hold; latency; storage."""
    setup_logging(verbose)
    questions = [q for f in SAMPLE_QUERY_FILES for q in load_seed_queries(f)]
    sources = query_sources()
    state_before = machine_state()
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        tmp_dir = Path(tmp)
        embedder = service_embedder(tmp_dir / "empty")
        indexes = {"sample": build_sample_index(tmp_dir / "sample", embedder)}
        if scifact_index is not None:
            indexes["scifact"] = copy_index(scifact_index, tmp_dir / "scifact")
        searchers = {name: load_like_service(folder, embedder).searcher
                     for name, folder in indexes.items()}
        pool = QueryPool()  # this process's query-vector cache
        share = _share(searchers["sample"], embedder, questions)
        pool.used.update(q.q for q in questions)  # their vectors are cached now
        latency = {name: _latency(searcher, pool.take(2 * (warmup + n_queries), sources[name]),
                                  warmup, name)
                   for name, searcher in searchers.items()}
        storage = {name: _storage(searcher, embedder, embed_sample)
                   for name, searcher in searchers.items()}
    report = {
        "benchmark": "answer_sentences",
        "settings": {"queries": n_queries, "warmup": warmup, "k": 10,
                     "margin": SECOND_SENTENCE_MARGIN, "embed_sample": embed_sample},
        "backends": {"query": embedder.query_backend, "passage": embedder.passage_backend},
        "machine_before": state_before,
        "machine_after": machine_state(),
        "share": share,
        "latency": latency,
        "storage": storage,
    }
    write_outputs(_markdown(report), report, markdown_out, json_out)


# --- share of answers inside the marked sentences -------------------------------------------

def _share(searcher: Searcher, embedder: Embedder, questions: list[SeedQuery]) -> dict[str, Any]:
    """For the service's rule (through ``Searcher.search``) and each alternative rule."""
    rules: dict[str, list[bool]] = {"service": [], FIRST_SENTENCE: [],
                                    **{f"margin {m}": [] for m in MARGINS}}
    marked_sentences: dict[str, list[int]] = {rule: [] for rule in rules}
    marked_chars: dict[str, list[float]] = {rule: [] for rule in rules}
    left_out: list[str] = []
    missed: list[str] = []  # by the service's rule
    several: list[int] = []  # which counted questions' answering hit has several sentences
    for question in tqdm(questions, desc="questions", unit="q", leave=False):
        hits = searcher.search(SearchRequest(question.q, k=10, highlights=True)).hits
        answering = next((hit for hit in hits if _answer_at(hit, question)), None)
        if answering is None:
            left_out.append(question.q)
            continue
        texts = [hit.passage.text for hit in hits]
        scored = score_sentences(texts, embedder.embed_query(question.q), embedder)
        chosen: dict[str, list[tuple[Span, ...]]] = {
            "service": [hit.highlights for hit in hits],
            FIRST_SENTENCE: [tuple(s.spans[:1]) for s in scored],
            **{f"margin {m}": [best_sentences(s, m) for s in scored] for m in MARGINS},
        }
        where = _answer_at(answering, question)
        if len(scored[hits.index(answering)].spans) > 1:
            several.append(len(rules["service"]))
        for rule, spans_per_hit in chosen.items():
            rules[rule].append(any(marked_whole(found, spans_per_hit[hits.index(answering)])
                                   for found in where))
            marked_sentences[rule] += [len(spans) for spans in spans_per_hit]
            marked_chars[rule] += [sum(e - s for s, e in spans) / len(text)
                                   for spans, text in zip(spans_per_hit, texts, strict=True)]
        if not rules["service"][-1]:
            missed.append(question.q)
        _check_service_rule(chosen["service"], scored)
    counted = len(questions) - len(left_out)
    return {
        "questions": len(questions),
        "left_out": left_out,
        "counted": counted,
        "several_sentences": len(several),
        "missed": missed,
        "rules": {rule: {"share": sum(inside) / counted if counted else float("nan"),
                         "inside": sum(inside),
                         # Where a rule has a choice to make: the answering hit has more
                         # than one sentence.
                         "inside_of_several": sum(inside[i] for i in several),
                         "sentences_per_hit": statistics.mean(marked_sentences[rule]),
                         "share_of_text": statistics.mean(marked_chars[rule])}
                  for rule, inside in rules.items()},
    }


def _answer_at(hit: Hit, question: SeedQuery) -> list[Span]:
    """(start, end) in the hit's text of each answer it holds, if it is from the question's
    document; [] otherwise."""
    if hit.passage.document_id != question.doc:
        return []
    return answer_spans(hit.passage.text, question.answers)


def _check_service_rule(service: list[tuple[Span, ...]], scored: list[ScoredSentences]) -> None:
    """The searcher marks what the rule at its margin picks (else the share measured is not
    the service's): sentence vectors of a batch may differ a little, so warn, not fail."""
    expected = [best_sentences(s) for s in scored]
    if service != expected:
        logger.warning("the searcher marked %s, the rule picks %s", service, expected)


# --- latency with and without highlights ------------------------------------------------

WITH, WITHOUT = "with highlights", "without highlights"


def _latency(searcher: Searcher, queries: list[str], warmup: int, name: str) -> dict[str, Any]:
    """ms per ``Searcher.search`` with and without highlights, k=10, in alternating order."""
    latencies: dict[str, list[float]] = {WITH: [], WITHOUT: []}
    sentences: list[int] = []
    steps = len(queries) // 2
    for i in tqdm(range(steps), desc=f"{name} latency", unit="step", leave=False):
        order = [(WITH, queries[2 * i]), (WITHOUT, queries[2 * i + 1])]
        for call, query in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            results = searcher.search(SearchRequest(query, k=10, highlights=call == WITH))
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                latencies[call].append(elapsed)
                if call == WITH:
                    sentences.append(sum(_embedded(hit.passage.text) for hit in results.hits))
    summary: dict[str, Any] = {
        call: {"n": len(values), "p50_ms": percentile(values, 50),
               "p99_ms": percentile(values, 99), "mean_ms": statistics.mean(values)}
        for call, values in latencies.items()
    }
    summary["sentences_embedded_per_query"] = statistics.mean(sentences)
    return summary


def _embedded(text: str) -> int:
    """Sentences of a passage that marking embeds (none for one sentence)."""
    count = len(sentence_spans(text))
    return count if count > 1 else 0


# --- what index-time sentence vectors would cost ------------------------------------------

def _storage(searcher: Searcher, embedder: Embedder, sample: int) -> dict[str, Any]:
    store = PassageStore.open(searcher.folder / STORE_FILE)
    try:
        rowids = range(1, searcher.passage_count + 1)  # rowid - 1 is the vector's row
        texts = [p.text for start in range(0, len(rowids), 900)  # SQLite's variable limit
                 for p in store.get_passages(rowids[start : start + 900])]
    finally:
        store.close()
    counts = [len(sentence_spans(text)) for text in texts]
    extra = sum(c for c in counts if c > 1)
    vector_bytes = embedder.dimension * 4
    sentences = [text[s:e] for text in texts for s, e in sentence_spans(text)]
    timed = random.Random(17).sample(sentences, min(sample, len(sentences)))
    started = time.perf_counter()
    embedder.embed_passages(timed)
    ms_per_sentence = (time.perf_counter() - started) * 1000 / len(timed)
    files = searcher.manifest["files"]
    stored_vector_bytes = sum(f["bytes"] for name, f in files.items() if name.startswith("vectors"))
    return {
        "passages": len(texts),
        "sentences": sum(counts),
        "sentences_per_passage": sum(counts) / len(texts),
        "sentences_per_passage_p50": float(np.median(counts)),
        "one_sentence_passages": sum(c == 1 for c in counts),
        "extra_vectors": extra,
        "extra_bytes": extra * (vector_bytes + OFFSET_BYTES),
        "extra_bytes_per_passage": extra * (vector_bytes + OFFSET_BYTES) / len(texts),
        "vector_files_bytes": stored_vector_bytes,
        "embed_ms_per_sentence": ms_per_sentence,
        "extra_embed_seconds": extra * ms_per_sentence / 1000,
        "build_seconds": searcher.manifest.get("build_seconds"),
    }


# --- report ------------------------------------------------------------------------------

def _markdown(report: dict[str, Any]) -> str:
    before, after, share = report["machine_before"], report["machine_after"], report["share"]
    lines = [
        "## The sentence that answers",
        "",
        f"{before['cpus_usable']} CPUs ({before['cpu_model']}); load average "
        f"{before['load_average']} before, {after['load_average']} after; query backend "
        f"{report['backends']['query']}, sentences embedded by the passage backend "
        f"{report['backends']['passage']}; margin {report['settings']['margin']}.",
        "",
        f"Share: {share['counted']} of {share['questions']} questions have a hit holding the "
        f"answer in the top 10 (hybrid); left out: {share['left_out']}; the answer outside "
        f"the marks: {share['missed']}.",
        "",
        markdown_table(
            ["rule", "answer inside the marks", "share", "of answering hits with several "
             "sentences", "sentences marked per hit", "share of hit text marked"],
            [[rule, f"{r['inside']}/{share['counted']}", fmt(r["share"], 3),
              f"{r['inside_of_several']}/{share['several_sentences']}",
              fmt(r["sentences_per_hit"], 2), fmt(r["share_of_text"], 2)]
             for rule, r in share["rules"].items()]),
        "",
        markdown_table(
            ["index", "search", "n", "p50 ms", "p99 ms", "mean ms",
             "sentences embedded per query"],
            [[name, call, r[call]["n"], fmt(r[call]["p50_ms"]), fmt(r[call]["p99_ms"]),
              fmt(r[call]["mean_ms"]), fmt(r["sentences_embedded_per_query"])
              if call == WITH else ""]
             for name, r in report["latency"].items() for call in (WITH, WITHOUT)]),
        "",
        markdown_table(
            ["index", "passages", "sentences (per passage, p50)", "one-sentence passages",
             "extra vectors", "extra bytes (per passage)", "vector files now",
             "embedding them (ms per sentence)"],
            [[name, s["passages"], f"{s['sentences']} ({s['sentences_per_passage']:.1f}, "
              f"{s['sentences_per_passage_p50']:.0f})", s["one_sentence_passages"],
              s["extra_vectors"], f"{s['extra_bytes'] / 1e6:.1f} MB "
              f"({s['extra_bytes_per_passage']:.0f} B)", f"{s['vector_files_bytes'] / 1e6:.1f} MB",
              f"{s['extra_embed_seconds']:.0f} s ({s['embed_ms_per_sentence']:.2f})"]
             for name, s in report["storage"].items()]),
    ]
    service = share["rules"]["service"]["share"]
    verdict = "met" if service >= TARGET_SHARE else "NOT met"
    lines += ["", f"Target: share >= {TARGET_SHARE}: {service:.3f}, **{verdict}**."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
