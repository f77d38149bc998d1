"""Retrieval evaluation: BEIR collections, seed queries, and the field's metrics.

Metrics follow trec_eval (via pytrec_eval): nDCG@10 with linear graded gain, recall@100
over documents with score > 0, MRR@10; each averaged over every query in the qrels.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.chunking import normalize_whitespace
from index.search import Hit

# Published nDCG@10 / recall@100 on the test split, from shared/eval/README.md.
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "scifact": {
        "BM25 (Anserini flat)": (0.679, 0.925),
        "BM25 (Anserini multifield)": (0.665, 0.908),
        "all-MiniLM-L6-v2 dense (MTEB)": (0.645, 0.925),
        "all-mpnet-base-v2 dense (MTEB)": (0.656, 0.942),
        "bge-small-en-v1.5 dense (MTEB)": (0.713, 0.945),
    },
    "nfcorpus": {
        "BM25 (Anserini flat)": (0.322, 0.246),
        "BM25 (Anserini multifield)": (0.325, 0.250),
        "all-MiniLM-L6-v2 dense (MTEB)": (0.316, 0.312),
        "all-mpnet-base-v2 dense (MTEB)": (0.333, 0.339),
        "bge-small-en-v1.5 dense (MTEB)": (0.343, 0.312),
    },
}
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^\w.-]")


@dataclass
class Collection:
    """A BEIR collection, possibly cut to a slice."""

    name: str
    documents: dict[str, tuple[str, str]]  # corpus id -> (title, text)
    queries: dict[str, str]  # query id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> corpus id -> graded relevance
    document_of_file: dict[str, str] = field(default_factory=dict)  # file stem -> corpus id


def load_beir(
    folder: Path, split: str = "test", max_queries: int | None = None,
    max_docs: int | None = None,
) -> Collection:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

    Args:
        max_queries: keep the first N judged queries (in file order).
        max_docs: keep the judged documents of the kept queries plus the first N others.
    """
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {}
    for record in _json_lines(folder / "queries.jsonl"):
        if record["_id"] in qrels:
            queries[record["_id"]] = record["text"]
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
    qrels = {q: judged for q, judged in qrels.items() if q in queries}
    judged = {doc for judgments in qrels.values() for doc in judgments}
    documents = {}
    others = 0
    for record in _json_lines(folder / "corpus.jsonl"):
        if max_docs is not None and record["_id"] not in judged:
            if others >= max_docs:
                continue
            others += 1
        documents[record["_id"]] = (record.get("title") or "", record.get("text") or "")
    return Collection(folder.name, documents, queries, qrels)


def write_beir_documents(collection: Collection, folder: Path) -> None:
    """One .txt file per record (title line, blank line, text) so the normal pipeline reads
    them; files already holding the same text are left alone, so rebuilds stay incremental."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for corpus_id, (title, text) in collection.documents.items():
        stem = _UNSAFE_FILE_CHARACTERS.sub("_", corpus_id)
        collection.document_of_file[stem] = corpus_id
        path = folder / f"{stem}.txt"
        wanted.add(path.name)
        content = f"{title}\n\n{text}\n" if title.strip() else f"{text}\n"
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    for stale in folder.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()


def score_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """Mean nDCG@10, recall@100 and MRR@10 of a run (query -> document -> score)."""
    import pytrec_eval

    full = {q: run.get(q, {}) for q in qrels}
    top10 = {q: dict(sorted(docs.items(), key=lambda d: -d[1])[:10]) for q, docs in full.items()}
    main = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(full)
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    count = len(qrels)
    # pytrec_eval leaves out queries with no retrieved document: they count as 0 here.
    return {
        "ndcg@10": round(sum(m["ndcg_cut_10"] for m in main.values()) / count, 4),
        "recall@100": round(sum(m["recall_100"] for m in main.values()) / count, 4),
        "mrr@10": round(sum(m["recip_rank"] for m in mrr.values()) / count, 4),
    }


@dataclass(frozen=True)
class SeedQuery:
    q: str
    doc: str  # id of the document whose answer was located before the question was run
    answers: tuple[str, ...]  # a passage of ``doc`` answers when it contains one of these
    # Answers found afterwards by reading the pooled top results of every system compared
    # (document id -> texts, in any document): passages that answer in other words or in
    # another document, which the located answer alone would count as misses.
    judged: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def answered_by(self, document_id: str, text: str, judged: bool = True) -> bool:
        """Whether a passage's (whitespace-normalised, lower-cased) text answers this query."""
        found = [self.answers] if document_id == self.doc else []
        if judged:
            found += [answers for doc, answers in self.judged if doc == document_id]
        return any(normalize_whitespace(a).lower() in text for group in found for a in group)


def load_seed_queries(path: Path) -> list[SeedQuery]:
    return [
        SeedQuery(r["q"], r["doc"], tuple(r["answers"]),
                  tuple((doc, tuple(texts)) for doc, texts in r.get("judged", {}).items()))
        for r in _json_lines(path)
    ]


def answer_rank(hits: Sequence[Hit], query: SeedQuery, judged: bool = True) -> int:
    """Rank of the first hit that answers the query, 0 if none; with ``judged`` False, only
    the answer located first counts."""
    for hit in hits:
        text = normalize_whitespace(hit.passage.text).lower()
        if query.answered_by(hit.passage.document_id, text, judged):
            return hit.rank
    return 0


def answer_spans(text: str, answers: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) in ``text`` of each occurrence of an answer, case and runs of whitespace
    ignored."""
    found = []
    for answer in answers:
        words = normalize_whitespace(answer).split(" ")
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
        found += [(m.start(), m.end()) for m in pattern.finditer(text)]
    return found


def marked_whole(span: tuple[int, int], marked: Sequence[tuple[int, int]]) -> bool:
    """Every character of ``span`` lies in the ``marked`` spans (in text order), but the
    spaces between two marked sentences."""
    start, end = span
    for first, last in marked:
        if first <= start < last:
            if end <= last:
                return True
            start = last + 1  # may go on in the next marked sentence, after the space
    return False


def _json_lines(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
