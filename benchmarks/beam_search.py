"""13-beam diverse beam search vs 13 sequential greedy decodes vs one greedy decode: same model, same prompt.

    python benchmarks/beam_search.py [--model DIR] [--tokens 64] [--reps 3] [--beams 13] [--groups 13]

The study decodes its fine-tuned model with 13 beams; without beam search a Mac user would need 13 separate
decodes to get 13 candidate answers. Greedy decodes use plain `mlx_lm.stream_generate` (the baseline); the beam
search is mlxclin's (one batched forward per step over all beams). Throughput is generated tokens over wall time,
prompt prefill included (each sequential decode prefills the prompt again, as it would without a prefix cache);
stop tokens are ignored by using a random toy model (it never emits one), and token counts are printed so a run
that stopped early is visible. Peak memory is MLX's allocator peak for each side alone. Sides alternate order
between repetitions; the ratios are printed per repetition with the median and the min-max spread.
Target: beam search >= 4x the tokens/s of 13 sequential greedy decodes.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_dir  # noqa: E402


def measure(fn):
    """(tokens, seconds, peak GB) of one call of fn() -> tokens."""
    import mlx.core as mx

    mx.clear_cache()
    mx.reset_peak_memory()
    start = time.perf_counter()
    tokens = fn()
    return tokens, time.perf_counter() - start, mx.get_peak_memory() / 1e9


def greedy(model, tokenizer, ids, tokens) -> int:
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    n = 0
    for r in stream_generate(model, tokenizer, ids, max_tokens=tokens, sampler=make_sampler(temp=0.0)):
        n = r.generation_tokens
    return n


def spread(values) -> str:
    return f"median {statistics.median(values):.2f}x (min {min(values):.2f}, max {max(values):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="MLX model dir (default: a toy gpt-oss built now)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--beams", type=int, default=13)
    ap.add_argument("--groups", type=int, default=13)
    args = ap.parse_args()

    from mlxclin.decoding.beam_search import BeamSettings, beam_search
    from mlxclin.harmony import render_prompt, stop_token_ids
    from mlxclin.models.gpt_oss import load
    from mlxclin.models.verify import PROMPTS

    path = model_dir(args.model)
    model, tokenizer, config = load(path)
    ids = render_prompt(PROMPTS["case"], effort="low")
    settings = BeamSettings(args.beams, args.groups, 0.5, 1.0, True, args.tokens)
    stops = stop_token_ids()
    sides = {
        "beam": lambda: beam_search(model, ids, settings, stops, config.get("pad_token_id", stops[0])).generated_tokens,
        "seq": lambda: sum(greedy(model, tokenizer, ids, args.tokens) for _ in range(args.beams)),
        "one": lambda: greedy(model, tokenizer, ids, args.tokens),
    }
    for side in sides.values():  # warm-up
        side()
    print(f"model {path} · prompt {len(ids)} tokens · {args.tokens} new tokens · {args.beams} beams in "
          f"{args.groups} groups")
    print(f"{'rep':>3}  {'beam tok/s':>10} {'GB':>6}  {f'{args.beams}x greedy tok/s':>17} {'GB':>6}  "
          f"{'1 greedy tok/s':>14} {'GB':>6}  {'beam/seq':>8}  {'beam/one':>8}  tokens (beam/seq/one)")
    vs_seq, vs_one, peaks = [], [], {k: [] for k in sides}
    for rep in range(args.reps):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        got = {name: measure(sides[name]) for name in order}
        tps = {name: n / s for name, (n, s, _) in got.items()}
        for name, (_, _, peak) in got.items():
            peaks[name].append(peak)
        vs_seq.append(tps["beam"] / tps["seq"])
        vs_one.append(tps["beam"] / tps["one"])
        print(f"{rep:>3}  {tps['beam']:10.1f} {got['beam'][2]:6.2f}  {tps['seq']:17.1f} {got['seq'][2]:6.2f}  "
              f"{tps['one']:14.1f} {got['one'][2]:6.2f}  {vs_seq[-1]:8.2f}  {vs_one[-1]:8.2f}  "
              f"{got['beam'][0]}/{got['seq'][0]}/{got['one'][0]}")
    print(f"beam / {args.beams} sequential greedy tok/s: {spread(vs_seq)} (target >= 4x)")
    print(f"beam / one greedy tok/s: {spread(vs_one)}")
    print("peak memory GB (max over reps): " + ", ".join(f"{k} {max(v):.2f}" for k, v in peaks.items())
          + f"; beam / one {max(peaks['beam']) / max(peaks['one']):.2f}x")


if __name__ == "__main__":
    main()
