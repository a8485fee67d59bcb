"""Learning check: prepare -> finetune -> `mlxclin eval` on a synthetic task the untrained toy cannot solve.

Each case carries a colour marker (repeated, so the tiny random toy picks it up within a few dozen steps) that
decides which of three listed diagnoses is correct. Held-out accuracy measured by `mlxclin eval` with the adapter
must go from chance (or worse: the untrained toy answers gibberish) to at least 70 %. Passing proves that the
Harmony rendering, the trained-token mask, the adapters and the eval's answer parsing all line up.
"""

import csv
import json
import random

import pytest

MARKERS = {"red": "Alpha syndrome", "blue": "Beta syndrome", "green": "Gamma syndrome"}
HEADER = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis"]


def synthetic_cases(path, n: int, seed: int):
    rng = random.Random(seed)
    findings = ["cough", "fever", "pain", "swelling", "fatigue", "nausea"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(n):
            marker = rng.choice(list(MARKERS))
            case = f"{rng.choice(findings)}; marker: " + " ".join([marker] * 30) + "."
            writer.writerow([f"{seed * 1000 + i}", "Chest imaging", case, ", ".join(MARKERS.values()),
                             MARKERS[marker]])
    return path


def accuracy(run_dir) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["accuracy"]["pct"]


@pytest.mark.slow
def test_finetuning_learns_the_marker_task(run_mlxclin, toy_mlx_dir, tmp_path):
    train = synthetic_cases(tmp_path / "train.csv", 96, seed=1)
    test = synthetic_cases(tmp_path / "test.csv", 24, seed=2)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("### user\nOptions:\n{options}\nCase: {case}\n")
    evaluate = ["eval", "--task", "eurorad", "--backend", "mlx", "--model", toy_mlx_dir, "--data", test,
                "--prompt-file", prompt, "--effort", "low", "--runs", 1, "--temperature", 0, "--max-tokens", 16,
                "--quiet"]

    before = run_mlxclin(*evaluate, "--out", tmp_path / "before")
    assert before.exit_code == 0, before.stderr
    assert accuracy(tmp_path / "before") <= 50.0   # chance is 33 %

    prepared = run_mlxclin("finetune", "prepare", "--data", train, "--model", toy_mlx_dir, "--out", tmp_path / "data",
                           "--effort", "low", "--prompt-file", prompt, "--valid-fraction", 0.1, "--skip-leakage")
    assert prepared.exit_code == 0, prepared.stderr
    trained = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", tmp_path / "data", "--out", tmp_path / "ad",
                          "--iters", 30, "--batch-size", 4, "--grad-accum", 1, "--rank", 8, "--alpha", 16,
                          "--lr", 1e-3, "--dropout", 0, "--steps-per-eval", 10, "--save-every", 30, "--no-progress")
    assert trained.exit_code == 0, trained.stderr
    log = [json.loads(line) for line in (tmp_path / "ad" / "train_log.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in log if r["type"] == "valid"]
    assert val[-1] < val[0]

    after = run_mlxclin(*evaluate, "--adapter-path", tmp_path / "ad", "--out", tmp_path / "after")
    assert after.exit_code == 0, after.stderr
    print(f"learning check: held-out accuracy {accuracy(tmp_path / 'before'):.1f}% before, "
          f"{accuracy(tmp_path / 'after'):.1f}% after fine-tuning")
    assert accuracy(tmp_path / "after") >= 70.0
