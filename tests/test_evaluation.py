"""Evaluation as a library: one validated spec for flags, TOML and Python; error-aware resume; the run-dir lock;
sampled runs that resume to exactly the uninterrupted result."""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import assert_one_line_error

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer  # noqa: E402


def _lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- one validated spec ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("toml, fragment", [
    ('efforts = ["ultra"]', "key 'efforts': unknown effort 'ultra'"),
    ("runs = 0", "key 'runs': must be at least 1"),
    ("batch_size = 0", "key 'batch_size': must be at least 1"),
    ("max-tokens = -5", "key 'max-tokens': must be at least 1"),
    ("temperature = -1.0", "key 'temperature': must be at least 0"),
    ("top_p = 5", "key 'top_p': must be at most 1"),
    ('runs = "many"', "key 'runs': must be an integer"),
    ("colour = 'red'", "unknown key 'colour'"),
    ("runs = = 3", "--config"),
])
def test_bad_config_values_are_one_line_errors(toml, fragment, tmp_path, run_mlxclin, tiny_eurorad_csv):
    config = tmp_path / "eval.toml"
    config.write_text(f'task = "eurorad"\n{toml}\n', encoding="utf-8")
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--config", config, "--backend", "replay", "--replay-columns", "m-1,m-2,m-3",
                         "--data", tiny_eurorad_csv, "--out", out)
    line = assert_one_line_error(result, fragment)
    assert str(config) in line
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("flag, value, fragment", [
    ("--runs", "0", "--runs: must be at least 1"), ("--runs", "-2", "--runs: must be at least 1"),
    ("--temperature", "-1", "--temperature: must be at least 0"), ("--top-p", "5", "--top-p: must be at most 1"),
    ("--max-tokens", "-1", "--max-tokens: must be at least 1"), ("--batch-size", "0", "--batch-size"),
    ("--effort", "ultra", "--efforts: unknown effort 'ultra'"), ("--runs", "two", "--runs: must be an integer"),
    ("--backend", "cloud", "--backend: choose one of mlx, openai, replay"),
])
def test_bad_flag_values_are_the_same_one_line_errors(flag, value, fragment, run_mlxclin, tiny_eurorad_csv, tmp_path):
    result = run_mlxclin("eval", "--task", "eurorad", "--data", tiny_eurorad_csv, "--model", "x", flag, value,
                         "--out", tmp_path / "run")
    assert_one_line_error(result, fragment)


def test_effort_key_takes_one_effort_or_a_list(tmp_path):
    from mlxclin.evaluation import EvalSpec

    one, many = tmp_path / "one.toml", tmp_path / "many.toml"
    one.write_text('task = "eurorad"\neffort = "high"\n')
    many.write_text('task = "eurorad"\neffort = ["low", "high"]\nbatch-size = 4\n')
    assert EvalSpec.from_sources(one).effort_list == ["high"]
    spec = EvalSpec.from_sources(many, batch_size=None, runs=5)   # None: not given on the command line
    assert (spec.effort_list, spec.batch_size, spec.runs) == (["low", "high"], 4, 5)
    assert EvalSpec.from_sources(many, efforts=("medium",)).effort_list == ["medium"]   # flags win


def test_no_module_below_the_commands_imports_them():
    """Layering: commands -> evaluation -> backends/tasks -> core (finetune --eval-after calls the library)."""
    package = Path(__file__).resolve().parents[1] / "mlxclin"
    offenders = []
    for path in package.rglob("*.py"):
        if "commands" in path.parts or path.name in ("cli.py", "__main__.py"):   # the entry points
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(("mlxclin.commands", "mlxclin.cli"))]
    assert offenders == []


# --- the Python API equals the CLI ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_python_api_returns_the_metrics_the_cli_writes(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin):
    from mlxclin import EvalSpec, evaluate

    result = evaluate(EvalSpec(task="eurorad", model=str(toy_mlx_dir), data=str(tiny_eurorad_csv), runs=2,
                               max_tokens=4, batch_size=2, out=str(tmp_path / "api"), quiet=True))
    cli = run_mlxclin("eval", "--task", "eurorad", "--model", toy_mlx_dir, "--data", tiny_eurorad_csv, "--runs", 2,
                      "--max-tokens", 4, "--batch-size", 2, "--out", tmp_path / "cli", "--quiet")
    assert cli.exit_code == 0, cli.stderr
    written = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert result.metrics["medium"] == written
    assert result.run_dir == tmp_path / "api" and result.new_samples == 8
    raw = lambda d: {s["request_id"]: s["raw"] for s in _lines(d / "samples.jsonl")}  # noqa: E731
    assert raw(tmp_path / "api") == raw(tmp_path / "cli")   # sampled, seeded per request: same text


# --- failed requests are errors, not wrong answers, and a rerun asks them again -----------------------------------

def test_failed_requests_are_counted_then_retried_by_a_rerun(tiny_eurorad_csv, tmp_path, run_mlxclin):
    from mlxclin.tasks import get_task

    task = get_task("eurorad")
    items = task.load_items(tiny_eurorad_csv)
    prompt = task.load_prompt()
    user = lambda item: task.build_messages(item, prompt)[-1]["content"]  # noqa: E731
    server = FaultServer().start()
    try:
        for item in items[:2]:   # a permanent failure (HTTP 400 is not retried) for every run of two items
            server.plan[user(item)] = [("status", 400)] * 3
        args = ("eval", "--task", "eurorad", "--backend", "openai", "--base-url", server.url, "--model", "m",
                "--data", tiny_eurorad_csv, "--runs", 3, "--out", tmp_path / "run", "--quiet")
        first = run_mlxclin(*args)
        assert first.exit_code == 0, first.stderr
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert metrics["n_errors"] == 6 and metrics["n_samples"] == 12
        assert "failed requests 6" in first.stdout
        errors = [s for s in _lines(tmp_path / "run" / "samples.jsonl") if s["status"] == "error"]
        assert len(errors) == 6 and all(s["error"].startswith("HTTP 400") and "correct" not in s for s in errors)
        sent = len(server.requests)
        server.plan.clear()   # the server heals
        second = run_mlxclin(*args)
        assert second.exit_code == 0, second.stderr
        assert "6 failed ones asked again" in second.stderr
        assert len(server.requests) - sent == 6   # exactly the failed requests, nothing else
    finally:
        server.stop()
    samples = _lines(tmp_path / "run" / "samples.jsonl")
    assert sorted(s["request_id"] for s in samples) == sorted({s["request_id"] for s in samples})
    assert len(samples) == 12 and all(s["status"] != "error" for s in samples)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_errors"] == 0


# --- a locked run directory; SIGKILL + resume of a sampled run at batch 8 ------------------------------------------

def _eval_args(model, data, out):
    return ["eval", "--task", "eurorad", "--model", str(model), "--data", str(data), "--runs", "2",
            "--max-tokens", "6", "--temperature", "1.0", "--seed", "11", "--batch-size", "8", "--effort", "low",
            "--out", str(out), "--quiet"]


@pytest.mark.slow
def test_second_writer_refused_then_sigkill_and_resume_equal_an_uninterrupted_sampled_run(
        toy_mlx_dir, tmp_path, write_csv, run_mlxclin):
    rows = [[f"{500 + i}.0", "Chest imaging", f"Clinical History: patient {i} with symptom {i}.",
             "Option alpha, Option beta, Option gamma", "Option beta", "NO"] for i in range(12)]
    data = write_csv(tmp_path / "cases.csv", ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList",
                                              "FinalDiagnosis", "DiseaseLeak"], rows)
    out = tmp_path / "killed"
    samples = out / "samples.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "mlxclin.cli", *_eval_args(toy_mlx_dir, data, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stop_at = 3 + int.from_bytes(os.urandom(1), "big") % 12   # a random point of the 24 requests
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if samples.exists() and len(samples.read_text().splitlines()) >= stop_at:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "eval finished before it could be killed"
    refused = run_mlxclin(*_eval_args(toy_mlx_dir, data, out))
    assert_one_line_error(refused, "being written by another mlxclin process", f"pid {proc.pid}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(_lines(samples)) < 24
    resumed = run_mlxclin(*_eval_args(toy_mlx_dir, data, out))
    assert resumed.exit_code == 0, resumed.stderr
    assert f"pid {proc.pid}) is gone" in resumed.stderr and "resuming" in resumed.stderr

    clean = tmp_path / "clean"
    assert run_mlxclin(*_eval_args(toy_mlx_dir, data, clean)).exit_code == 0
    assert json.loads((out / "metrics.json").read_text()) == json.loads((clean / "metrics.json").read_text())
    fields = ("raw", "final", "prediction", "correct", "seed", "completion_tokens", "status")
    record = lambda d: {s["request_id"]: tuple(s.get(f) for f in fields) for s in _lines(d / "samples.jsonl")}  # noqa
    killed, uninterrupted = record(out), record(clean)
    assert len(_lines(samples)) == 24 and killed == uninterrupted


def test_rows_the_protocol_drops_are_counted_in_metrics(tmp_path, write_csv, run_mlxclin):
    header = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis", "m-1"]
    rows = [["1.0", "Chest imaging", "History: cough.", "Lung cancer, Pneumonia", "Lung cancer", "Lung cancer"],
            ["2.0", "Chest imaging", "History: fever.", "Lung cancer, Pneumonia", "", "Pneumonia"]]
    data = write_csv(tmp_path / "cases.csv", header, rows)
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--replay-columns", "m-1", "--data", data,
                         "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "dropped 1 row(s)" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_items"] == 1 and sum(metrics["dropped_rows"][""].values()) == 1


@pytest.mark.slow
def test_memory_preflight_picks_auto_batch_and_refuses_what_cannot_fit(toy_mlx_dir, tiny_eurorad_csv, tmp_path,
                                                                         run_mlxclin):
    args = ("eval", "--task", "eurorad", "--model", toy_mlx_dir, "--data", tiny_eurorad_csv, "--runs", 1, "--quiet")
    auto = run_mlxclin(*args, "--batch-size", "auto", "--max-tokens", 4, "--out", tmp_path / "auto")
    assert auto.exit_code == 0, auto.stderr
    assert "--batch-size auto: 4" in auto.stderr   # 4 requests, a tiny model: all of them fit at once
    assert "eval estimate (batch 4," in auto.stderr and "available" in auto.stderr
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert config["batch_size"] == "auto" and config["batch_size_used"] == 4
    huge = run_mlxclin(*args, "--max-tokens", 10**9, "--batch-size", 8, "--out", tmp_path / "huge")
    assert_one_line_error(huge, "exceeds the", "lower --batch-size or --max-tokens")
    assert not (tmp_path / "huge" / "samples.jsonl").exists()
