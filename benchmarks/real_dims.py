"""gpt-oss at its real per-layer dimensions, mlxclin side by side with raw mlx-lm, in one run.

    python benchmarks/real_dims.py --layers 2                       # this project's CPU (about 15-25 min)
    python benchmarks/real_dims.py --preset gpt-oss-20b --layers 24 # all layers, on a Mac or an accelerator machine

Builds `toy-model --preset P --layers N` (random weights, released shapes, shard layout and config), then, each in
its own subprocess so that peak memory is that part's alone:
  convert   every recipe: max RSS against the largest input shard (target <= 1.5x);
  verify    `--verify` of the mxfp4 conversion: max RSS against one layer in float32 x 2 + the float32 head;
  decode    prefill and decode tok/s, mlxclin's backend vs `mlx_lm.stream_generate` on the same loaded weights,
            alternating which goes first, repeated; with the decode roofline (bytes read per token / bandwidth);
  batch     `MLXBackend(path, batch_size=B).generate(requests)` vs `mlx_lm.batch_generate`, generated tok/s;
  lora      `mlxclin finetune` vs mlx-lm's LoRA trainer at equal config (benchmarks/finetune_vs_mlx_lm.py).
Ratios are mlxclin / baseline with the spread over repetitions. Decode and LoRA run on the mxfp4 conversion with
this machine's default dtype (float32 without Metal/CUDA, bfloat16 with).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPT = [{"role": "user", "content": "List the causes of acute chest pain and how imaging separates them. " * 3}]
# Memory bandwidth in GB/s of machines whose figure is published (Apple silicon, NVIDIA data-centre GPUs).
BANDWIDTH_GBS = {"Apple M1": 68, "Apple M1 Pro": 200, "Apple M1 Max": 400, "Apple M1 Ultra": 800, "Apple M2": 100,
                 "Apple M2 Pro": 200, "Apple M2 Max": 400, "Apple M2 Ultra": 800, "Apple M3": 100,
                 "Apple M3 Pro": 150, "Apple M3 Max": 400, "Apple M3 Ultra": 819, "Apple M4": 120,
                 "Apple M4 Pro": 273, "Apple M4 Max": 546, "NVIDIA H100": 3350, "NVIDIA H200": 4800,
                 "NVIDIA A100": 2039}


def max_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9


def run_part(args, part: str, **extra) -> dict:
    """Run one part in a fresh interpreter; it writes its measurements to a JSON file."""
    out = Path(args.work) / f"{part}-{extra.get('recipe', '')}.json"
    cmd = [sys.executable, __file__, "--part", part, "--work", args.work, "--tokens", str(args.tokens),
           "--reps", str(args.reps), "--batch", str(args.batch), "--out-json", str(out)]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "TQDM_DISABLE": "1"})
    return json.loads(out.read_text())


# --- parts (each in its own process) ------------------------------------------------------------------------------


def part_convert(args) -> dict:
    from mlxclin.models.convert import convert

    work = Path(args.work)
    r = convert(str(work / "hf"), work / f"mlx-{args.recipe}", recipe=args.recipe, force=True)
    return {"recipe": args.recipe, "dtype": r.dtype, "seconds": r.seconds, "mlx_peak_gb": r.peak_memory_gb,
            "size_gb": r.size_bytes / 1e9}


def part_verify(args) -> dict:
    from mlxclin.models.verify import verify_conversion

    work = Path(args.work)
    t0 = time.perf_counter()
    report = verify_conversion(work / "hf", work / "mlx-mxfp4", "mxfp4")
    return {"seconds": time.perf_counter() - t0, "passed": report.passed, "layerwise": report.layerwise,
            "max_abs": max(p.max_abs_diff for p in report.prompts)}


def _plain_stream(model, tokenizer, ids, tokens) -> tuple:
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    last = None
    for last in stream_generate(model, tokenizer, ids, max_tokens=tokens, sampler=make_sampler(temp=0.0)):
        pass
    return last.prompt_tps, last.generation_tps


def part_decode(args) -> dict:
    from mlxclin.backends.base import Request
    from mlxclin.backends.mlx import MLXBackend

    backend = MLXBackend(Path(args.work) / "mlx-mxfp4", prefix_cache=False)
    request = Request(id="bench", messages=PROMPT, effort="low", max_tokens=args.tokens, temperature=0.0)
    ids = backend.prompt_ids(request)
    model, tokenizer = backend.model, backend.tokenizer
    backend.generate([request])
    _plain_stream(model, tokenizer, ids, 2)   # warm-up both
    rows = []
    for rep in range(args.reps):
        order = ["ours", "plain"] if rep % 2 else ["plain", "ours"]
        got = {}
        for side in order:
            if side == "ours":
                c = backend.generate([request])[0]
                got[side] = (c.prefill_tps, c.decode_tps)
            else:
                got[side] = _plain_stream(model, tokenizer, ids, args.tokens)
        rows.append(got)
    return {"prompt_tokens": len(ids), "rows": rows}


def part_batch(args) -> dict:
    from mlx_lm import batch_generate

    from mlxclin.backends.base import Request
    from mlxclin.backends.mlx import MLXBackend

    backend = MLXBackend(Path(args.work) / "mlx-mxfp4", batch_size=args.batch, prefix_cache=False)
    requests = [Request(id=f"b{i}", messages=[{"role": "user", "content": f"Case {i}: " + PROMPT[0]["content"]}],
                        effort="low", max_tokens=args.tokens, temperature=0.0) for i in range(args.batch)]
    prompts = [backend.prompt_ids(r) for r in requests]
    rows = []
    for rep in range(args.reps):
        got = {}
        for side in (["ours", "plain"] if rep % 2 else ["plain", "ours"]):
            t0 = time.perf_counter()
            if side == "ours":
                n = sum(c.completion_tokens for c in backend.generate(requests))
            else:
                r = batch_generate(backend.model, backend.tokenizer, prompts, max_tokens=args.tokens)
                n = sum(len(backend.tokenizer.encode(t, add_special_tokens=False)) for t in r.texts)
            got[side] = n / (time.perf_counter() - t0)
        rows.append(got)
    return {"rows": rows}


PARTS = {"convert": part_convert, "verify": part_verify, "decode": part_decode, "batch": part_batch}


# --- the driver ---------------------------------------------------------------------------------------------------


def decode_bytes_per_token(hf: Path, dense_bytes: int) -> float:
    """Bytes of weights one decoded token reads from the mxfp4 conversion: all non-expert weights (embedding row
    only) plus experts_per_token / experts of the expert weights; dense (bf16 in the source) tensors at
    dense_bytes per value, MXFP4 blocks and scales as stored."""
    from mlxclin.memory import ITEM
    from mlxclin.models.checkpoint import safetensors_header

    config = json.loads((hf / "config.json").read_text())
    share = config["num_experts_per_tok"] / config["num_local_experts"]
    total = 0.0
    for shard in sorted(hf.glob("*.safetensors")):
        for name, t in safetensors_header(shard).items():
            n = dense_bytes if t["dtype"] == "BF16" else ITEM[t["dtype"]]
            for d in t["shape"]:
                n *= d
            if "embed_tokens" in name:
                continue
            total += n * share if ".experts." in name else n
    return total


def measured_bandwidth_gbs() -> float:
    """Read+write bandwidth of copying 1 GB into a preallocated buffer (numpy, one thread): a rough stand-in for a
    chip not in BANDWIDTH_GBS. (A fresh MLX result buffer each time would measure page faults instead.)"""
    import numpy as np

    src = np.ones(1 << 28, dtype=np.float32)
    dst = np.empty_like(src)
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2 * src.nbytes / (time.perf_counter() - t0) / 1e9)
    return best


def spread(values: list) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f}, n {len(values)})"


def report_decode(args, hf: Path, dtype_bytes: int) -> None:
    from mlxclin.device import device_info

    d = run_part(args, "decode")
    ratio_pre = [r["ours"][0] / r["plain"][0] for r in d["rows"]]
    ratio_dec = [r["ours"][1] / r["plain"][1] for r in d["rows"]]
    ours_dec = statistics.median(r["ours"][1] for r in d["rows"])
    plain_dec = statistics.median(r["plain"][1] for r in d["rows"])
    print(f"decode    prompt {d['prompt_tokens']} tok, {args.tokens} new: mlxclin {ours_dec:.2f} tok/s, "
          f"mlx_lm {plain_dec:.2f} tok/s; ratio decode {spread(ratio_dec)}; ratio prefill {spread(ratio_pre)}")
    chip = device_info()["chip"]
    known = next((bw for name, bw in BANDWIDTH_GBS.items() if chip.startswith(name)), None)
    bandwidth = args.bandwidth_gbs or known or measured_bandwidth_gbs()
    where = "given" if args.bandwidth_gbs else ("published" if known else "measured 1 GB numpy copy")
    per_token = decode_bytes_per_token(hf, dtype_bytes)
    print(f"roofline  {per_token / 1e9:.2f} GB read per token, {bandwidth:.0f} GB/s ({where}, {chip}): "
          f"<= {bandwidth * 1e9 / per_token:.1f} tok/s; mlxclin at {ours_dec / (bandwidth * 1e9 / per_token):.0%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="gpt-oss-20b", choices=["gpt-oss-20b", "gpt-oss-120b"])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=16, help="new tokens per decode/batch request")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lora-steps", type=int, default=3)
    ap.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth for the roofline")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--work", default=None)
    ap.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--recipe", help=argparse.SUPPRESS)
    ap.add_argument("--out-json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        result = PARTS[args.part](args)
        result["max_rss_gb"] = max_rss_gb()
        Path(args.out_json).write_text(json.dumps(result))
        return
    run_all(args)


def run_all(args) -> None:
    from mlxclin.models.toy import preset_config, write_toy_checkpoint

    args.work = args.work or tempfile.mkdtemp(prefix="mlxclin-real-dims-")
    work = Path(args.work)
    hf = work / "hf"
    cfg = preset_config(args.preset, args.layers)
    if not (hf / "config.json").exists():
        write_toy_checkpoint(hf, cfg)
    shards = sorted(hf.glob("*.safetensors"))
    largest = max(s.stat().st_size for s in shards) / 1e9
    print(f"{args.preset} x {cfg.layers} layers (random, released dims) in {hf}: {len(shards)} shards, largest "
          f"{largest:.2f} GB")
    converted = {}
    for recipe in ("mxfp4", "mxfp4-q8", "q8", "q4"):
        c = converted[recipe] = run_part(args, "convert", recipe=recipe)
        print(f"convert   {recipe:<9} {c['dtype']:<8} max RSS {c['max_rss_gb']:.2f} GB = "
              f"{c['max_rss_gb'] / largest:.2f}x largest shard (target <= 1.5x); MLX peak {c['mlx_peak_gb']:.2f} GB, "
              f"{c['size_gb']:.2f} GB out, {c['seconds']:.0f} s")
        if recipe != "mxfp4":
            shutil.rmtree(work / f"mlx-{recipe}")
    H, V, E, I = cfg.hidden, 201088, cfg.experts, cfg.intermediate
    layer_f32 = 4 * (E * 3 * H * I + 2 * (cfg.heads + cfg.kv_heads) * cfg.head_dim * H)
    head_f32 = 4 * V * H
    v = run_part(args, "verify")
    target = 2 * layer_f32 + head_f32
    print(f"verify    layer by layer {v['layerwise']}, passed {v['passed']} (max |dlogit| {v['max_abs']:.2g}): "
          f"max RSS {v['max_rss_gb']:.2f} GB = {v['max_rss_gb'] * 1e9 / target:.2f}x (2 x layer f32 "
          f"{layer_f32 / 1e9:.2f} GB + head f32 {head_f32 / 1e9:.2f} GB; target <= 1.0x), {v['seconds']:.0f} s")
    report_decode(args, hf, 4 if converted["mxfp4"]["dtype"] == "float32" else 2)
    b = run_part(args, "batch")
    ratios = [r["ours"] / r["plain"] for r in b["rows"]]
    print(f"batch     {args.batch} requests x {args.tokens} tokens: mlxclin "
          f"{statistics.median(r['ours'] for r in b['rows']):.2f} tok/s, mlx_lm.batch_generate "
          f"{statistics.median(r['plain'] for r in b['rows']):.2f} tok/s; ratio {spread(ratios)}")
    report_lora(args, work)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def report_lora(args, work: Path) -> None:
    import finetune_vs_mlx_lm as ft

    ns = argparse.Namespace(model=work / "mlx-mxfp4", steps=args.lora_steps, rank=8, batch_size=1,
                            grad_checkpoint=True)
    results = ft.measure(ns, 128)
    for name, r in results.items():
        step = sum(r["step_s"]) / len(r["step_s"])
        r["tps"] = r["tokens_per_step"] / step
    ours, ref = results["mlxclin"], results["mlx_lm"]
    ratios = [a / b for a, b in zip(ref["step_s"], ours["step_s"])]
    print(f"lora      rank 8, attention + experts, 128 tokens, {args.lora_steps - 1} timed steps: mlxclin "
          f"{ours['tps']:.1f} tok/s peak {ours['peak_gb']:.2f} GB, mlx_lm {ref['tps']:.1f} tok/s peak "
          f"{ref['peak_gb']:.2f} GB; ratio tok/s {spread(ratios)}, peak {ours['peak_gb'] / ref['peak_gb']:.2f}")


if __name__ == "__main__":
    main()
