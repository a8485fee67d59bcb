"""The eval run engine on the toy model: every task end to end, SIGKILL + resume, batch 8 == batch 1."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest



@pytest.fixture
def eurorad_12(tmp_path, write_csv):
    rows = [[f"{500 + i}.0", ["Chest imaging", "Neuroradiology", "Abdominal imaging"][i % 3],
             f"Clinical History: patient {i} with symptom {i}. Imaging Findings: lesion {i}.",
             "Option alpha, Option beta, Option gamma", "Option beta", "NO", "", "", ""] for i in range(12)]
    header = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis", "DiseaseLeak",
              "m-1", "m-2", "m-3"]
    return write_csv(tmp_path / "eurorad12.csv", header, rows)


def _eval_args(model, data, out, *extra):
    return ["eval", "--task", "eurorad", "--backend", "mlx", "--model", str(model), "--data", str(data),
            "--runs", "2", "--max-tokens", "4", "--temperature", "0", "--effort", "low", "--out", str(out),
            "--quiet", *extra]


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(toy_mlx_dir, eurorad_12, tmp_path, run_mlxclin):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mlxclin.cli", *_eval_args(toy_mlx_dir, eurorad_12, out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if samples.exists() and len(samples.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "eval finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(_lines(samples))
    assert 6 <= done_before < 24
    resumed = run_mlxclin(*_eval_args(toy_mlx_dir, eurorad_12, out))
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    final = _lines(samples)
    keys = [(s["item_id"], s["run"]) for s in final]
    assert len(keys) == 24 and len(set(keys)) == 24  # exactly one line per item x run

    clean = tmp_path / "clean"
    assert run_mlxclin(*_eval_args(toy_mlx_dir, eurorad_12, clean)).exit_code == 0
    assert json.loads((out / "metrics.json").read_text()) == json.loads((clean / "metrics.json").read_text())
    by_key = {(s["item_id"], s["run"]): s["raw"] for s in _lines(clean / "samples.jsonl")}
    assert {(s["item_id"], s["run"]): s["raw"] for s in final} == by_key


@pytest.mark.slow
def test_batch_8_gives_the_same_greedy_answers_as_batch_1(toy_mlx_dir, eurorad_12, tmp_path, run_mlxclin):
    raw = {}
    for bs in (1, 8):
        out = tmp_path / f"bs{bs}"
        result = run_mlxclin(*_eval_args(toy_mlx_dir, eurorad_12, out, "--batch-size", bs))
        assert result.exit_code == 0, result.stderr
        raw[bs] = {(s["item_id"], s["run"]): s["raw"] for s in _lines(out / "samples.jsonl")}
    assert raw[1] == raw[8] and len(raw[1]) == 24


def test_changed_config_is_refused(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin):
    out = tmp_path / "run"
    args = _eval_args(toy_mlx_dir, tiny_eurorad_csv, out, "--limit", "1")
    assert run_mlxclin(*args).exit_code == 0
    changed = run_mlxclin(*[a if a != "low" else "high" for a in args])
    assert changed.exit_code != 0 and "different settings" in changed.stderr and len(changed.stderr.splitlines()) == 1


@pytest.mark.parametrize("task", ["eurorad", "ophtho", "judge"])
def test_every_task_end_to_end_with_mlx(task, toy_mlx_dir, tmp_path, run_mlxclin):
    from mlxclin.commands.demo import _data_dir

    folder, _ = _data_dir(None, tmp_path)  # the benchmark files when present, else the bundled samples
    data = {"eurorad": folder / "eurorad_test.csv", "ophtho": folder / "ophthalmology.csv", "judge": folder}[task]
    out = tmp_path / task
    result = run_mlxclin("eval", "--task", task, "--backend", "mlx", "--model", toy_mlx_dir, "--data", data,
                         "--limit", "2", "--runs", "1", "--max-tokens", "6", "--effort", "medium",
                         "--retry-unparsed", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    for name in ("config.json", "samples.jsonl", "metrics.json", "perf.json"):
        assert (out / name).exists(), name
    samples = _lines(out / "samples.jsonl")
    assert len(samples) == (4 if task == "judge" else 2)
    for s in samples:
        for field in ("prompt_tokens", "ttft_s", "prefill_tps", "decode_tps", "latency_s", "peak_memory_gb",
                      "rss_gb", "completion_tokens", "reasoning_tokens"):
            assert s[field] is not None and s[field] > 0, field
        assert s["retries_unparsed"] == 1  # a random toy never answers parseably: one retry, counted
    perf = json.loads((out / "perf.json").read_text())
    block = perf["efforts"]["medium"]
    assert block["decode_tps"] > 0 and block["peak_memory_gb"] > 0 and block["retries_unparsed"] == len(samples)
    config = json.loads((out / "config.json").read_text())
    assert config["model_fingerprint"] and config["device"]["mlx"] and config["temperature"] == 1.0
