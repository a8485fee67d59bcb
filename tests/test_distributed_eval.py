"""Data-parallel `mlxclin eval` through `mlx.launch -n 2` on loopback: metrics.json equal to one process, samples
from both ranks in one run directory, per-rank perf, the world recorded; a killed launch resumes to exactly one
sample per request."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import EURORAD_HEADER
from distributed_support import launch, launch_args, launch_env, mlxclin_errors
from support import write_csv

ITEMS, RUNS = 12, 2
OPTIONS = ["Pneumonia", "Lung cancer", "Sarcoidosis"]


@pytest.fixture(scope="module")
def eurorad12(tmp_path_factory):
    rows = [[f"{100 + i}", "Chest imaging", f"History: cough for {i} weeks. Findings: opacity {i}.",
             ", ".join(OPTIONS), OPTIONS[i % 3], "NO", "", "", ""] for i in range(ITEMS)]
    return write_csv(tmp_path_factory.mktemp("dp-eval") / "eurorad12.csv", EURORAD_HEADER, rows)


def _eval_args(model, data, out, max_tokens=6):
    return ["eval", "--task", "eurorad", "--data", data, "--model", model, "--runs", RUNS, "--effort", "low",
            "--max-tokens", max_tokens, "--batch-size", 2, "--quiet", "--out", out]


def _samples(run_dir) -> list:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_two_rank_eval_matches_one_process(toy_mlx_dir, eurorad12, tmp_path, run_mlxclin):
    single = run_mlxclin(*_eval_args(toy_mlx_dir, eurorad12, tmp_path / "one"))
    assert single.exit_code == 0, single.stderr
    result = launch(2, *_eval_args(toy_mlx_dir, eurorad12, tmp_path / "two"))
    assert not mlxclin_errors(result.stderr) and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.count("wrote ") == 1   # rank 0 reports

    one, two = tmp_path / "one", tmp_path / "two"
    metrics_one, metrics_two = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert metrics_two == metrics_one and metrics_one["n_samples"] == ITEMS * RUNS
    samples = _samples(two)
    assert sorted(s["request_id"] for s in samples) == sorted(s["request_id"] for s in _samples(one))
    assert {s["rank"] for s in samples} == {0, 1}
    # each request has its own seed: the rank that decoded it does not change what it says
    by_id = {s["request_id"]: s["raw"] for s in _samples(one)}
    assert all(s["raw"] == by_id[s["request_id"]] for s in samples)
    perf = json.loads((two / "perf.json").read_text())
    assert perf["world"]["size"] == 2 and set(perf["ranks"]) == {"0", "1"}
    assert sum(perf["ranks"][r]["n_samples"] for r in ("0", "1")) == perf["total"]["n_samples"] == ITEMS * RUNS
    assert json.loads((two / "config.json").read_text())["world"]["hosts"] == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.slow
def test_killed_launch_resumes_to_one_sample_per_request(toy_mlx_dir, eurorad12, tmp_path):
    out = tmp_path / "killed"
    args = _eval_args(toy_mlx_dir, eurorad12, out, max_tokens=24)
    proc = subprocess.Popen(launch_args(2, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=launch_env(), start_new_session=True)
    samples_file, deadline = out / "samples.jsonl", time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if samples_file.exists() and samples_file.read_text().count("\n") >= 1:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)   # the launcher and both ranks, mid-run
    proc.wait()
    partial = len(_samples(out))
    assert 0 < partial < ITEMS * RUNS, f"the launch was not killed mid-run ({partial} samples)"

    result = launch(2, *args)
    assert not mlxclin_errors(result.stderr) and "Traceback" not in result.stderr, result.stderr
    ids = [s["request_id"] for s in _samples(out)]
    assert len(ids) == len(set(ids)) == ITEMS * RUNS
