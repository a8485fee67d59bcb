"""mlxclin's mlx backend vs plain `mlx_lm.stream_generate`: same model, prompt ids and token count, interleaved reps.

    python benchmarks/generation_overhead.py [--model DIR] [--tokens 128] [--reps 9]

Prints decode tok/s of both per repetition and the median ratio (target >= 0.97 at batch 1). Both decode with
greedy sampling and ignore stop tokens' effect by using a random toy (it rarely emits one); the token counts are
printed so a run where either stopped early is visible.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_dir  # noqa: E402


def plain_mlx_lm(model, tokenizer, ids, tokens):
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    first, n = None, 0
    for r in stream_generate(model, tokenizer, ids, max_tokens=tokens, sampler=make_sampler(temp=0.0)):
        first = first or time.perf_counter()
        n = r.generation_tokens
    return n, (n - 1) / (time.perf_counter() - first)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="MLX model dir (default: a toy gpt-oss built now)")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()

    from mlxclin.backends.base import Request
    from mlxclin.backends.mlx import MLXBackend

    path = model_dir(args.model)
    backend = MLXBackend(path, prefix_cache=False)  # prefill savings are not what this measures
    request = Request(id="bench", messages=[{"role": "user", "content": "List causes of acute chest pain."}],
                      effort="low", max_tokens=args.tokens, temperature=0.0)
    ids = backend.prompt_ids(request)
    # the same loaded weights for both, so only the generation path differs
    model, tokenizer = backend.model, backend.tokenizer
    backend.generate([request])
    plain_mlx_lm(model, tokenizer, ids, args.tokens)  # warm-up both
    ratios = []
    print(f"model {path} · prompt {len(ids)} tokens · {args.tokens} new tokens · batch 1")
    print(f"{'rep':>3}  {'mlx_lm tok/s':>12}  {'mlxclin tok/s':>13}  {'ratio':>6}  tokens (mlx_lm/mlxclin)")
    for rep in range(args.reps):
        if rep % 2:  # alternate which side goes first, so drift in machine load does not favour one
            c = backend.generate([request])[0]
            n_ref, ref = plain_mlx_lm(model, tokenizer, ids, args.tokens)
        else:
            n_ref, ref = plain_mlx_lm(model, tokenizer, ids, args.tokens)
            c = backend.generate([request])[0]
        ratios.append(c.decode_tps / ref)
        print(f"{rep:>3}  {ref:12.1f}  {c.decode_tps:13.1f}  {ratios[-1]:6.3f}  {n_ref}/{c.completion_tokens}")
    print(f"median ratio mlxclin / mlx_lm decode tok/s: {statistics.median(ratios):.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
