"""Compare embedding backends for all-MiniLM-L6-v2 on this machine, interleaved in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embedding_backends.py --passages 2000 --queries 200

Passages: real passages sampled (seed 0) from the scifact index (passages.sqlite), else scifact
abstracts split into ~120-word pieces.  Queries: scifact queries.

Method, because other jobs share the 2 cores:
  * passages: ``--rounds`` rounds; in each round every variant embeds the same passages, in a
    rotated order; its speed ratio is taken against the torch baseline *of the same round*, and
    the table shows medians over rounds.
  * queries: every query is sent to every variant back to back (rotated order), one call each,
    after a warm-up; p50/p99 of per-call latency, ratio = torch p50 / variant p50.
  * fidelity: cosine of each vector against torch fp32 (``SentenceTransformer.encode``,
    normalised), min and mean.

The ONNX variants need onnxruntime (and torch + onnx to export once); the export goes to
``--onnx-dir`` and is reused when present (see ``onnx_embedder.py``).

Findings, 2 cores (Ice Lake, AVX-512 VNNI, no BF16/AMX), torch 2.13.0, onnxruntime 1.31.1, with
the machine otherwise idle (ratios vs ``encode(batch_size=32)`` with torch on 2 threads):
  * fp32 ONNX gives the same vectors (min cos 0.9999997) but is no faster for batches (0.95x at
    bs32, 1.14x at bs8); single queries are 2.7-3.2x faster (p50 ~8 ms vs ~24 ms).
  * batch size matters more than the backend: bs8 is 1.2-1.3x faster than bs32 (torch or ORT),
    bs128 is ~0.6x.
  * >= 2x for indexing needs int8 (ORT dynamic, VNNI): 1.9-2.0x at bs8, min cos ~0.986, mean
    ~0.994, top-10 overlap ~0.93; int8 vectors also depend on the batch they were computed in.
  * torch 2-thread single queries collapse when other jobs hold the cores (p50 ~580 ms against
    ~27 ms with 1 thread); ORT and torch with 1 thread do not.
  * torch bf16 autocast: 0.37x; torch dynamic int8: 1.5x but min cos 0.87; torch.compile:
    1.28x after a ~43 s warm-up; ORT fused (offline optimizer) fp32: no gain over plain export.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import random
import sqlite3
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import onnx_embedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def load_passages(n: int) -> tuple[list[str], str]:
    dbs = sorted(glob.glob(str(ROOT / "var/eval/scifact/index/generations/*/passages.sqlite")))
    if dbs:
        con = sqlite3.connect(f"file:{dbs[-1]}?mode=ro", uri=True)
        texts = [r[0] for r in con.execute("SELECT text FROM passages ORDER BY rowid")]
        con.close()
        source = dbs[-1]
    else:
        texts = []
        with open(SCIFACT / "corpus.jsonl") as f:
            for line in f:
                words = json.loads(line)["text"].split()
                texts += [" ".join(words[i : i + 120]) for i in range(0, len(words), 120)]
        source = str(SCIFACT / "corpus.jsonl")
    rng = random.Random(0)
    return rng.sample(texts, min(n, len(texts))), source


def load_queries(n: int) -> list[str]:
    with open(SCIFACT / "queries.jsonl") as f:
        return [json.loads(line)["text"] for line in f][:n]


# --------------------------------------------------------------------------------------------
# variants
# --------------------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    encode: Callable[[list[str]], np.ndarray]  # passages -> (n, 384) normalised
    note: str = ""
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # process CPU seconds, all threads
    ratios: list[float] = field(default_factory=list)
    vectors: np.ndarray | None = None


@dataclass
class QVariant:
    name: str
    encode_one: Callable[[str], np.ndarray]
    note: str = ""
    lat_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)


def build(args: argparse.Namespace) -> tuple[list[Variant], list[QVariant], dict[str, object]]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model_path = str(onnx_embedder.default_model_path())
    info: dict[str, object] = {"threads": args.threads}
    st = SentenceTransformer(model_path, device="cpu", local_files_only=True)

    def st_encode(model: SentenceTransformer, bs: int) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: model.encode_document(
            texts, batch_size=bs, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )

    def with_threads(n: int, fn: Callable[[T], np.ndarray]) -> Callable[[T], np.ndarray]:
        """Run ``fn`` with ``n`` torch threads, then restore the default."""
        if n == args.threads:
            return fn

        def run(x: T) -> np.ndarray:
            torch.set_num_threads(n)
            try:
                return fn(x)
            finally:
                torch.set_num_threads(args.threads)

        return run

    base = f"torch fp32 bs32 {args.threads}thr (baseline)"
    pv: list[Variant] = [Variant(base, st_encode(st, 32))]
    for bs in args.batch_sizes:
        if bs != 32:
            pv.append(Variant(f"torch fp32 bs{bs} {args.threads}thr", st_encode(st, bs)))
    for n in args.alt_threads:
        pv.append(Variant(f"torch fp32 bs32 {n}thr", with_threads(n, st_encode(st, 32))))

    def q_torch(model: SentenceTransformer) -> Callable[[str], np.ndarray]:
        return lambda q: model.encode_query(
            [q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )[0]

    qv: list[QVariant] = [QVariant(f"torch fp32 {args.threads}thr (baseline)", q_torch(st))]
    for n in args.alt_threads:
        qv.append(QVariant(f"torch fp32 {n}thr", with_threads(n, q_torch(st))))

    if "torch-int8" in args.variants:
        st8 = copy.deepcopy(st)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(
                st8, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
            )
        assert any("quantized" in type(m).__module__ for m in st8.modules())
        for n in [args.threads, *args.alt_threads]:
            pv.append(Variant(f"torch dyn-int8 bs32 {n}thr", with_threads(n, st_encode(st8, 32)),
                              "torch.ao quantize_dynamic"))
            qv.append(QVariant(f"torch dyn-int8 {n}thr", with_threads(n, q_torch(st8))))

    if "torch-bf16" in args.variants:
        def bf16(texts: list[str]) -> np.ndarray:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return st_encode(st, 32)(texts)

        pv.append(Variant("torch bf16-autocast bs32", bf16, "no AVX512_BF16/AMX here"))

    if "torch-compile" in args.variants:
        stc = copy.deepcopy(st)
        stc.compile(dynamic=True)
        t0 = time.perf_counter()
        stc.encode(["warm up the compiler"] * 4, batch_size=32)
        stc.encode(["warm up the compiler with a longer text " * 20] * 32, batch_size=32)
        info["torch_compile_warmup_s"] = round(time.perf_counter() - t0, 1)
        pv.append(Variant("torch.compile bs32", st_encode(stc, 32),
                          f"warm-up {info['torch_compile_warmup_s']} s"))
        qv.append(QVariant("torch.compile", q_torch(stc)))

    onnx_variants = [
        v for v in ("fp32", "opt", "int8", "int8p", "int8u") if f"onnx-{v}" in args.variants
    ]
    if onnx_variants:
        onnx_dir = Path(args.onnx_dir)
        if not all((onnx_dir / f).exists() for f in onnx_embedder.FILES.values()):
            t0 = time.perf_counter()
            info["export"] = onnx_embedder.export(Path(model_path), onnx_dir)
            info["export_wall_s"] = round(time.perf_counter() - t0, 1)
        else:
            info["export"] = json.loads((onnx_dir / "export_info.json").read_text())
        labels = {"fp32": "ORT fp32", "opt": "ORT fp32 fused", "int8": "ORT int8 fused",
                  "int8p": "ORT int8 partial", "int8u": "ORT int8 optimum-like"}
        for v in onnx_variants:
            for n in [args.threads, *args.alt_threads]:
                emb = onnx_embedder.OnnxEmbedder(onnx_dir, v, threads=n)
                label = f"{labels[v]} bs32 {n}thr"
                pv.append(Variant(label, lambda t, e=emb: e.encode(t, 32)))
                qv.append(QVariant(f"{labels[v]} {n}thr", emb.encode_one))
                if n == args.threads:
                    for bs in args.batch_sizes:
                        if bs != 32:
                            pv.append(Variant(f"{labels[v]} bs{bs} {n}thr",
                                              lambda t, e=emb, b=bs: e.encode(t, b)))
                if n == 1 and args.workers > 1:
                    for bs in sorted({32, *args.batch_sizes}):
                        pv.append(Variant(
                            f"{labels[v]} bs{bs} 1thr x{args.workers} workers",
                            lambda t, e=emb, b=bs: e.encode(t, b, workers=args.workers),
                            "batches in parallel threads",
                        ))
                if v == onnx_variants[0] and n == args.threads:
                    if "nospin" in args.variants:
                        e2 = onnx_embedder.OnnxEmbedder(onnx_dir, v, threads=n, spin=False)
                        pv.append(Variant(f"{labels[v]} bs32 {n}thr nospin",
                                          lambda t, e=e2: e.encode(t, 32)))
                        qv.append(QVariant(f"{labels[v]} {n}thr nospin", e2.encode_one))
                    if "unsorted" in args.variants:
                        pv.append(Variant(f"{labels[v]} bs32 {n}thr unsorted",
                                          lambda t, e=emb: e.encode(t, 32, sort=False)))
    return pv, qv, info


# --------------------------------------------------------------------------------------------
# measure
# --------------------------------------------------------------------------------------------


def run_passages(pv: list[Variant], texts: list[str], rounds: int, chunk: int) -> None:
    """Every variant embeds every chunk of ``texts``; chunk by chunk, in rotated order."""
    for v in pv:
        v.encode(texts[:64])
    parts = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    step = 0
    for r in range(rounds):
        outs: dict[str, list[np.ndarray]] = {v.name: [] for v in pv}
        for k, part in enumerate(parts):
            order = pv[step % len(pv) :] + pv[: step % len(pv)]
            step += 1
            got: dict[str, float] = {}
            for v in order:
                t0, c0 = time.perf_counter(), time.process_time()
                out = v.encode(part)
                got[v.name] = time.perf_counter() - t0
                v.cpu.append(time.process_time() - c0)
                v.times.append(got[v.name])
                outs[v.name].append(np.asarray(out, dtype=np.float32))
            for v in pv:
                v.ratios.append(got[pv[0].name] / got[v.name])
            speeds = ", ".join(
                f"{v.name.split(' (')[0]}={len(part) / got[v.name]:.1f}/s" for v in pv
            )
            print(f"  round {r + 1}/{rounds} chunk {k + 1}/{len(parts)}: {speeds}",
                  file=sys.stderr, flush=True)
        for v in pv:
            if v.vectors is None:
                v.vectors = np.concatenate(outs[v.name])


def run_queries(qv: list[QVariant], queries: list[str], gap_s: float, warmup: int = 10) -> None:
    """Each query to every variant, rotated; ``gap_s`` of idle before each timed call lets the
    previous variant's worker threads stop spinning (as between real queries)."""
    for q in queries[:warmup]:
        for v in qv:
            v.encode_one(q)
    for i, q in enumerate(queries):
        order = qv[i % len(qv) :] + qv[: i % len(qv)]
        for v in order:
            time.sleep(gap_s)
            t0, c0 = time.perf_counter(), time.process_time()
            out = v.encode_one(q)
            v.lat_ms.append((time.perf_counter() - t0) * 1000)
            v.cpu_ms.append((time.process_time() - c0) * 1000)
            v.vectors.append(np.asarray(out, dtype=np.float32))


def cosines(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    return (a * ref).sum(1)


def top_k_overlap(q: np.ndarray, p: np.ndarray, p_ref: np.ndarray, q_ref: np.ndarray,
                  k: int = 10) -> float:
    """Mean share of the reference top-k passages (q_ref x p_ref) that q x p also ranks top-k."""
    k = min(k, len(p))
    if k == 0 or len(q) == 0:
        return float("nan")
    top = np.argpartition(-(q @ p.T), k - 1, axis=1)[:, :k]
    ref = np.argpartition(-(q_ref @ p_ref.T), k - 1, axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top, ref, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--alt-threads", type=int, nargs="*", default=[1],
                    help="also run each backend with these thread counts")
    ap.add_argument("--workers", type=int, default=0,
                    help="also run each ONNX model as this many 1-thread sessions in parallel "
                         "threads (needs 1 among --threads/--alt-threads)")
    ap.add_argument("--chunk", type=int, default=250,
                    help="passages per interleaving step (each variant embeds each chunk)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32],
                    help="batch sizes for torch and every ONNX model, at --threads")
    ap.add_argument("--onnx-dir", default="/tmp/onnx-model")
    ap.add_argument(
        "--variants", nargs="+",
        default=["onnx-fp32", "onnx-int8", "onnx-int8p", "onnx-int8u"],
        help="ONNX: onnx-fp32 onnx-opt (fused fp32) onnx-int8 onnx-int8p onnx-int8u; "
             "also: torch-int8 torch-bf16 torch-compile nospin unsorted",
    )
    ap.add_argument("--gap-ms", type=float, default=50,
                    help="idle time before each timed query call")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args()
    args.alt_threads = [n for n in dict.fromkeys(args.alt_threads) if n != args.threads]

    passages, source = load_passages(args.passages)
    queries = load_queries(args.queries)
    pv, qv, info = build(args)
    print(f"# {len(passages)} passages from {source}; {len(queries)} queries; "
          f"threads={args.threads}; rounds={args.rounds}; load avg {os.getloadavg()[0]:.2f}",
          file=sys.stderr)

    if passages:
        run_passages(pv, passages, args.rounds, args.chunk)
    if queries:
        run_queries(qv, queries, args.gap_ms / 1000)

    ref_p = pv[0].vectors if passages else None
    ref_q = np.stack(qv[0].vectors) if queries else None
    rows = []
    if passages:
        print(f"\n# passages: {len(passages)} from {Path(source).name}, rounds={args.rounds}, "
              f"chunks of {args.chunk}, default threads={args.threads}; "
              "passages/s = total over all chunks; ratio = median over chunks of "
              "(baseline time / time) on the same chunk; "
              "agg = total baseline time / total time; top10 = share of each query's top-10 "
              "(torch query vectors) that stays in the top-10 with these passage vectors; "
              "p/cpu-s = passages per CPU-second of this process (less sensitive to other jobs; "
              "for 1-thread variants close to idle-machine speed, spinning threads inflate it)")
        print(f"{'passage backend':36s} {'passages/s':>10s} {'ratio':>6s} {'agg':>6s} "
              f"{'p/cpu-s':>7s} {'min cos':>9s} {'mean cos':>9s} {'top10':>6s}  note")
        base_total = sum(pv[0].times)
        for v in pv:
            pps = args.rounds * len(passages) / sum(v.times)
            ratio, agg = statistics.median(v.ratios), base_total / sum(v.times)
            c = cosines(v.vectors, ref_p)
            top10 = (
                top_k_overlap(ref_q, v.vectors, ref_p, ref_q) if ref_q is not None
                else float("nan")
            )
            rows.append({"kind": "passages", "name": v.name, "passages_per_s": pps,
                         "ratio": ratio, "agg_ratio": agg, "min_cos": float(c.min()),
                         "mean_cos": float(c.mean()), "top10_overlap": top10,
                         "chunk_times_s": v.times})
            per_cpu = args.rounds * len(passages) / sum(v.cpu)
            rows[-1]["passages_per_cpu_s"] = per_cpu
            print(f"{v.name:36s} {pps:10.1f} {ratio:6.2f} {agg:6.2f} {per_cpu:7.1f} {c.min():9.6f} "
                  f"{c.mean():9.6f} {top10:6.3f}  {v.note}")

    if queries:
        base_p50 = float(np.percentile(qv[0].lat_ms, 50))
        print(f"\n# queries: {len(queries)} single-query calls each, interleaved, "
              f"{args.gap_ms:g} ms idle before each; "
              "ratio = torch p50 / p50; cpu ms = median CPU time of the call; "
              "top10 = share of the baseline top-10 (over the sampled passages, torch vectors) "
              "kept")
        print(f"{'query backend':36s} {'p50 ms':>8s} {'p99 ms':>8s} {'ratio':>6s} {'cpu ms':>7s} "
              f"{'min cos':>9s} {'mean cos':>9s} {'top10':>6s}")
        for v in qv:
            p50, p99 = np.percentile(v.lat_ms, 50), np.percentile(v.lat_ms, 99)
            qvec = np.stack(v.vectors)
            c = cosines(qvec, ref_q)
            top10 = top_k_overlap(qvec, ref_p, ref_p, ref_q) if passages else float("nan")
            rows.append({"kind": "queries", "name": v.name, "p50_ms": float(p50),
                         "p99_ms": float(p99), "ratio": base_p50 / p50, "min_cos": float(c.min()),
                         "mean_cos": float(c.mean()), "top10_overlap": top10})
            cpu50 = float(np.percentile(v.cpu_ms, 50))
            rows[-1]["cpu_ms_p50"] = cpu50
            print(f"{v.name:36s} {p50:8.2f} {p99:8.2f} {base_p50 / p50:6.2f} {cpu50:7.2f} "
                  f"{c.min():9.6f} {c.mean():9.6f} {top10:6.3f}")
    print(f"\n# load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "info": info, "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
