"""Data-parallel eval: `mlxclin eval` on 1 process vs `mlx.launch -n 2` on the same requests, side by side.

    python benchmarks/distributed_eval.py [--model DIR] [--items 12] [--runs 2] [--max-tokens 16] [--reps 3]

Each repetition runs both (the order alternates) into fresh run directories and reads:
  engine items/s   perf.json `total.items_per_s` (wall time of decoding, shared clock across ranks)
  end-to-end       requests / wall time of the whole command, including start-up and model loading on every rank
and the 1-minute load average before each command (this box is shared; ratios mean little under heavy load).
Printed: per-mode medians and the ratio 2 ranks / 1 rank (median, min-max). On one machine with 2 CPU cores two
ranks compete for the same cores, so a ratio near 1 (or below, with start-up) is expected; across Macs each rank
has its own GPU and the ratio approaches the number of ranks for long runs.

Communication: a 2-rank probe gathers real samples from the 1-process run with `distributed.all_gather_json` (the
call evaluate_distributed makes once per round) and prints milliseconds per gathered sample and bytes per sample.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import model_dir  # noqa: E402
from distributed_support import launch_args, launch_env, launch_prefix  # noqa: E402

OPTIONS = ["Pneumonia", "Lung cancer", "Sarcoidosis"]
HEADER = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis", "DiseaseLeak"]


def write_items(path: Path, n: int) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow([100 + i, "Chest imaging", f"History: cough for {i} weeks. Findings: opacity {i}.",
                             ", ".join(OPTIONS), OPTIONS[i % 3], "NO"])
    return path


def run_eval(ranks: int, args: list) -> tuple:
    """(engine items/s, end-to-end requests/s, load average before) of one eval command."""
    load = os.getloadavg()[0]
    command = launch_args(ranks, *args) if ranks > 1 else [sys.executable, "-m", "mlxclin", *map(str, args)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=launch_env())
    wall = time.perf_counter() - t0
    out = Path(args[args.index("--out") + 1])
    if not (out / "perf.json").is_file():
        sys.exit(f"eval on {ranks} rank(s) failed:\n{done.stderr[-2000:]}")
    total = json.loads((out / "perf.json").read_text())["total"]
    return total["items_per_s"], total["n_samples"] / wall, load


def gather_probe(samples_file: str, reps: int) -> None:
    """Run under mlx.launch: time all_gather_json of each rank's share of real samples."""
    from mlxclin.distributed import all_gather_json, barrier, rank_share, world

    samples = [json.loads(line) for line in Path(samples_file).read_text().splitlines() if line.strip()]
    mine = rank_share(samples)
    barrier()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        gathered = all_gather_json(mine)
        times.append(time.perf_counter() - t0)
    if world().is_main:
        n = sum(len(g) for g in gathered)
        per_sample = statistics.median(times) / n * 1e3
        size = len(json.dumps(samples).encode()) / len(samples)
        print(f"communication: {per_sample:.3f} ms per gathered sample (median of {reps} gathers of {n} samples, "
              f"{size / 1e3:.1f} kB per sample, ring backend on loopback)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="MLX model folder (default: a fresh toy gpt-oss, mxfp4)")
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--gather-probe", default=None, help=argparse.SUPPRESS)   # the 2-rank probe itself
    args = parser.parse_args()
    if args.gather_probe:
        gather_probe(args.gather_probe, args.reps * 10)
        return
    model = model_dir(args.model)
    root = Path(tempfile.mkdtemp(prefix="mlxclin-dp-bench-"))
    data = write_items(root / "items.csv", args.items)
    common = ["eval", "--task", "eurorad", "--data", data, "--model", model, "--runs", args.runs, "--effort", "low",
              "--max-tokens", args.max_tokens, "--batch-size", args.batch_size, "--quiet"]
    results = {1: [], 2: []}
    for rep in range(args.reps):
        for ranks in ((1, 2) if rep % 2 == 0 else (2, 1)):
            results[ranks].append(run_eval(ranks, [*common, "--out", root / f"r{ranks}-{rep}"]))
    print(f"{args.items} items x {args.runs} runs, max {args.max_tokens} tokens, batch {args.batch_size}, "
          f"{args.reps} repetitions, {os.cpu_count()} CPU cores")
    for ranks, rows in results.items():
        engine, e2e, load = zip(*rows)
        print(f"{ranks} rank(s): engine {statistics.median(engine):.2f} items/s, end-to-end "
              f"{statistics.median(e2e):.2f} items/s (load average {min(load):.1f}-{max(load):.1f})")
    for label, col in (("engine", 0), ("end-to-end", 1)):
        ratios = [two[col] / one[col] for one, two in zip(results[1], results[2])]
        print(f"2 ranks / 1 rank, {label}: {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
              f"max {max(ratios):.2f})")
    probe = [*launch_prefix(2), sys.executable, __file__, "--gather-probe", str(root / "r1-0" / "samples.jsonl"),
             "--reps", str(args.reps)]
    print(subprocess.run(probe, capture_output=True, text=True, env=launch_env()).stdout.strip())


if __name__ == "__main__":
    main()
