"""How fast `mlxclin eval` answers when there is nothing to generate, next to what loading the model costs.

    python benchmarks/eval_startup.py [--model DIR] [--reps 5]

Three commands, each a fresh process, alternating, repeated: `eval` of a finished run directory (re-reported from
its stored results), `eval` with a changed setting (refused before any model is loaded), and, as the baseline,
a process that only loads the same model with `mlx_lm.load` (what every eval paid before it checked anything).
Prints the median and min-max wall seconds of each and the ratios to the baseline.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_dir  # noqa: E402



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    model = model_dir(args.model)
    work = Path(tempfile.mkdtemp(prefix="mlxclin-startup-"))
    data = work / "cases.csv"
    rows = ["case_id,Section,PostDescription,DifferentialDiagnosisList,FinalDiagnosis"]
    rows += [f'{i}.0,Chest imaging,Clinical History: patient {i}.,"Granuloma, Hamartoma",Granuloma' for i in range(4)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = [sys.executable, "-m", "mlxclin.cli", "eval", "--task", "eurorad", "--model", str(model), "--data",
            str(data), "--runs", "1", "--max-tokens", "4", "--out", str(work / "run"), "--quiet"]
    subprocess.run(base, check=True, capture_output=True)   # the finished run
    commands = {
        "finished run": base,
        "changed setting refused": base + ["--temperature", "0.5"],
        "baseline: mlx_lm.load": [sys.executable, "-c", f"import mlx_lm; mlx_lm.load({str(model)!r})"],
    }
    times = {name: [] for name in commands}
    names = list(commands)
    print(f"model {model} · load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for rep in range(args.reps):
        for name in names[rep % 3:] + names[:rep % 3]:
            t = time.perf_counter()
            subprocess.run(commands[name], capture_output=True)
            times[name].append(time.perf_counter() - t)
    baseline = times["baseline: mlx_lm.load"]
    for name in names:
        ratios = [a / b for a, b in zip(times[name], baseline)]
        print(f"{name:<26} {statistics.median(times[name]):6.2f} s (min {min(times[name]):.2f}, max "
              f"{max(times[name]):.2f}) · {statistics.median(ratios):.2f}x the baseline")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
