"""Eval throughput on the same requests with variable output lengths, side by side in one run:

  sequential   mlxclin MLXBackend, batch size 1
  chunked      the previous engine's scheme, reproduced here: chunks of N requests, each through a fresh mlx-lm
               batch (`mlx_lm.batch_generate`), each chunk waiting for its slowest request
  continuous   mlxclin MLXBackend, batch size N: one long-lived BatchGenerator, a new request as soon as a slot frees
  raw          `mlx_lm.batch_generate` on all prompt ids at once (completion batch N): mlx-lm's own continuous batching

    python benchmarks/eval_throughput.py [--model DIR | --model fake] [--requests 24] [--max-tokens 64] [--reps 3]

Per-request max tokens are drawn from a log-normal spread like real reasoning lengths (here from max/16 to max), so
chunks have stragglers. Greedy decoding, so every scheme produces the same tokens. The order of the four schemes
rotates each repetition; items/s per scheme (median) and the ratios continuous/chunked and continuous/raw (median,
min-max over repetitions) are printed. `--model fake` uses a roofline-cost model (tests/fake_model.py: a decode
step costs the same at any batch size, like bandwidth-bound decoding on a GPU; prefill costs per token), isolating
the scheduling from this CPU's compute limits.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import model_dir  # noqa: E402


def load_backend(model: str):
    from mlxclin.backends.mlx import MLXBackend

    if model == "fake":
        from fake_model import fake_backend

        return fake_backend(call_s=0.005, token_s=0.0001)
    return MLXBackend(model_dir(model))


def make_requests(backend, n: int, max_tokens: int, seed: int = 0) -> list:
    from mlxclin.backends.base import Request

    rng = np.random.default_rng(seed)
    lengths = np.clip(np.exp(rng.normal(np.log(max_tokens / 4), 0.8, n)), max_tokens / 16, max_tokens).astype(int)
    requests = []
    for i, length in enumerate(lengths):
        if backend.harmony:
            messages = [{"role": "system", "content": "Pick the most likely diagnosis from the list."},
                        {"role": "user", "content": f"Case {i}: patient with cough for {i + 1} days and a "
                                                    f"{i + 2} mm nodule. Options: granuloma, hamartoma."}]
        else:
            messages = [{"role": "user", "content": str(40 + 7 * (i % 5))}]
        requests.append(Request(id=str(i), messages=messages, effort="low", max_tokens=int(length),
                                temperature=0.0, prefix_key="bench"))
    return requests


def run_backend(backend, requests: list, batch_size: int) -> int:
    backend.batch_size = batch_size
    return sum(c.completion_tokens for c in backend.stream(requests))


def run_batch_generate(backend, prompts: list, max_tokens: list, batch_size: int, chunk: int) -> None:
    from mlx_lm import batch_generate

    for i in range(0, len(prompts), chunk):
        batch_generate(backend.model, backend.tokenizer, prompts[i:i + chunk], max_tokens=max_tokens[i:i + chunk],
                       completion_batch_size=batch_size, prefill_batch_size=batch_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="MLX model folder, 'fake', or nothing for a fresh toy gpt-oss")
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    import os

    backend = load_backend(args.model)
    requests = make_requests(backend, args.requests, args.max_tokens)
    prompts = [backend.prompt_ids(r) for r in requests]
    budgets = [r.max_tokens for r in requests]
    n, size = len(requests), args.batch_size
    schemes = {
        "sequential": lambda: run_backend(backend, requests, 1),
        "chunked": lambda: run_batch_generate(backend, prompts, budgets, size, chunk=size),
        "continuous": lambda: run_backend(backend, requests, size),
        "raw": lambda: run_batch_generate(backend, prompts, budgets, size, chunk=n),
    }
    print(f"model {args.model or 'toy gpt-oss (fresh)'} · {n} requests · max tokens {min(budgets)}-{max(budgets)} "
          f"(sum {sum(budgets)}) · batch {size} · load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    schemes["continuous"]()  # warm-up (compilation, allocator)
    rates = {name: [] for name in schemes}
    names = list(schemes)
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            t = time.perf_counter()
            schemes[name]()
            rates[name].append(n / (time.perf_counter() - t))
        print(f"rep {rep + 1}: " + ", ".join(f"{k} {rates[k][-1]:.2f} items/s" for k in names))
    for name in names:
        print(f"{name:<11} {statistics.median(rates[name]):7.2f} items/s")
    for base in ("chunked", "raw", "sequential"):
        ratios = [c / b for c, b in zip(rates["continuous"], rates[base])]
        print(f"continuous / {base:<10} {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, "
              f"max {max(ratios):.2f})")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
