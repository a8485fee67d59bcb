"""`mlxclin eval` items/s at batch 1 vs batch 8 on the same model and items, side by side.

    python benchmarks/eval_throughput.py [--model DIR] [--items 16] [--max-tokens 32]

Runs the eval engine twice (greedy, one run, fresh run dirs) and prints items/s, decode tok/s and the ratio, and
whether the answers were identical.
"""

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_dir  # noqa: E402


def synthetic_cases(path: Path, n: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis"])
        for i in range(n):
            w.writerow([f"{i}.0", "Chest imaging", f"Clinical History: patient {i} with cough for {i + 1} days. "
                        f"Imaging Findings: a {i + 2} mm nodule.", "Granuloma, Hamartoma, Metastasis", "Granuloma"])
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    from mlxclin.cli import main as cli

    path = model_dir(args.model)
    work = Path(tempfile.mkdtemp(prefix="mlxclin-evalbench-"))
    data = synthetic_cases(work / "cases.csv", args.items)
    perf, raw = {}, {}
    for bs in (1, 8):
        out = work / f"bs{bs}"
        code = cli(["eval", "--task", "eurorad", "--backend", "mlx", "--model", str(path), "--data", str(data),
                    "--runs", "1", "--temperature", "0", "--max-tokens", str(args.max_tokens), "--effort", "low",
                    "--batch-size", str(bs), "--out", str(out), "--quiet"])
        assert code == 0
        perf[bs] = json.loads((out / "perf.json").read_text())["efforts"]["low"]
        raw[bs] = [json.loads(line)["raw"] for line in (out / "samples.jsonl").read_text().splitlines()]
    print(f"\nmodel {path} · {args.items} items · {args.max_tokens} max tokens · greedy")
    for bs in (1, 8):
        print(f"batch {bs}: {perf[bs]['items_per_s']:.3f} items/s · decode {perf[bs]['decode_tps']:.1f} tok/s "
              f"per request · latency p50 {perf[bs]['latency_s']['p50']:.2f} s")
    print(f"items/s ratio batch 8 / batch 1: {perf[8]['items_per_s'] / perf[1]['items_per_s']:.2f}x · "
          f"identical answers: {raw[1] == raw[8]}")


if __name__ == "__main__":
    main()
