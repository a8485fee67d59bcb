"""`mlxclin eval --backend replay` end to end: files written, one-line errors, and the published numbers."""

import json
import subprocess
import sys

import pytest

from mlxclin.backends.base import Request
from mlxclin.backends.replay import ReplayBackend, parse_column_list
from mlxclin.errors import MlxclinError
from mlxclin.tasks import get_task
from support import assert_one_line_error


# --- replay backend ----------------------------------------------------------------------------------------------

def test_replay_backend_serves_one_column_per_run(tiny_eurorad_csv):
    items = get_task("eurorad").load_items(tiny_eurorad_csv)
    backend = ReplayBackend.from_items(items, ["m-3", "m-1"])
    out = backend.generate([Request(id="a", messages=[], item_id="102", run=0),
                            Request(id="b", messages=[], item_id="102", run=1)])
    assert [c.final for c in out] == ["Sturge-Weber syndrome, type 1", "Sturgeâ€“Weber syndrome, type 1"]
    assert {c.format for c in out} == {"replay"} and [c.id for c in out] == ["a", "b"]
    assert out[0].extra == {"column": "m-3"}
    with pytest.raises(MlxclinError, match="no stored output"):
        backend.generate([Request(id="c", messages=[], item_id="102", run=2)])


def test_replay_column_list_parsing():
    assert parse_column_list("oss-20b (H) v1, oss-20b (H) v2") == ["oss-20b (H) v1", "oss-20b (H) v2"]
    with pytest.raises(MlxclinError, match="more than once"):
        parse_column_list("a,b,a")
    with pytest.raises(MlxclinError, match="at least one"):
        parse_column_list(" , ")


# --- the command -------------------------------------------------------------------------------------------------

def test_eval_replay_writes_samples_metrics_and_config(tiny_eurorad_csv, tmp_path, run_mlxclin):
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--task", "generalist", "--backend", "replay", "--data", tiny_eurorad_csv,
                         "--replay-columns", "m-1,m-2,m-3", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "50.0%" in result.stdout and "2/4" in result.stdout

    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(samples) == 12
    # run-major: every item once per run, runs in order (the run engine resumes run by run)
    assert [(s["item_id"], s["run"]) for s in samples[:5]] == [("101", 0), ("102", 0), ("103", 0), ("104", 0), ("101", 1)]
    first = samples[1]
    for key in ("item_id", "run", "effort", "raw", "prediction", "match_type", "correct"):
        assert key in first
    assert first["raw"] == "Sturgeâ€“Weber syndrome, type 1" and first["correct"] is True

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) == {"task", "model", "runs", "n_items", "accuracy", "groups", "per_run_accuracy",
                            "pass_at_k", "fleiss_kappa", "match_types", "effort", "n_samples", "n_errors", "n_unparsed",
                            "protocol", "dropped_rows"}
    assert (metrics["task"], metrics["model"], metrics["runs"], metrics["n_items"]) == ("eurorad", "m", 3, 4)
    assert set(metrics["accuracy"]) == {"pct", "ci_low", "ci_high", "correct", "n"}

    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["replay_columns"] == ["m-1", "m-2", "m-3"] and len(config["data"][""]["sha256"]) == 64


def test_eval_resumes_refuses_changed_config_and_honours_limit_model_and_map_options(tiny_eurorad_csv, tmp_path, run_mlxclin):
    out = tmp_path / "run"
    args = ["eval", "--task", "eurorad", "--backend", "replay", "--data", tiny_eurorad_csv,
            "--replay-columns", "m-1,m-2,m-3", "--out", out]
    assert run_mlxclin(*args).exit_code == 0
    again = run_mlxclin(*args)  # the same command resumes: nothing is recomputed or duplicated
    assert again.exit_code == 0 and "resuming" in again.stderr
    assert len((out / "samples.jsonl").read_text(encoding="utf-8").splitlines()) == 12
    assert_one_line_error(run_mlxclin(*args, "--map-options"), "different settings")
    result = run_mlxclin(*args, "--overwrite", "--map-options", "--model", "mine", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert (metrics["model"], metrics["n_items"]) == ("mine", 2)
    assert len((out / "samples.jsonl").read_text(encoding="utf-8").splitlines()) == 6


def test_eval_replay_reads_jsonl_like_csv(tiny_eurorad_csv, tmp_path, run_mlxclin):
    import csv
    with open(tiny_eurorad_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    jsonl = tmp_path / "eurorad.jsonl"
    jsonl.write_text("".join(json.dumps({**r, "case_id": float(r["case_id"])}) + "\n" for r in rows),
                     encoding="utf-8")
    results = {}
    for name, path in (("csv", tiny_eurorad_csv), ("jsonl", jsonl)):
        out = tmp_path / name
        result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", path,
                             "--replay-columns", "m-1,m-2,m-3", "--out", out)
        assert result.exit_code == 0, result.stderr
        results[name] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert results["jsonl"] == results["csv"]


def test_eval_prompt_file_override_is_used_and_recorded(tiny_eurorad_csv, tmp_path, run_mlxclin):
    prompt = tmp_path / "paper_v1.txt"
    prompt.write_text("### user\nCase {case}\nOptions:\n{options}\n", encoding="utf-8")
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", tiny_eurorad_csv,
                         "--replay-columns", "m-1", "--prompt-file", prompt, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "config.json").read_text())["prompts"][""]["source"] == str(prompt)


def test_eval_judge_needs_a_folder_for_both_subsets(tmp_path, run_mlxclin, write_csv):
    path = write_csv(tmp_path / "judge_diagnosis.csv", ["Clinical specialty"], [["x"]])
    result = run_mlxclin("eval", "--task", "judge", "--backend", "replay", "--data", path, "--replay-columns", "a")
    assert_one_line_error(result, "judge_diagnosis.csv and judge_treatment.csv")


# --- one-line errors ---------------------------------------------------------------------------------------------

def test_unknown_task(run_mlxclin):
    assert_one_line_error(run_mlxclin("eval", "--task", "radiology", "--backend", "replay",
                                       "--replay-columns", "a"), "unknown task 'radiology'")


def test_missing_columns_are_named(tmp_path, run_mlxclin, write_csv):
    path = write_csv(tmp_path / "e.csv", ["case_id", "Section", "m1"], [["1", "Chest", "x"]])
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", path, "--replay-columns", "m1")
    assert_one_line_error(result, "'PostDescription', 'DifferentialDiagnosisList', 'FinalDiagnosis'")


def test_missing_replay_column_is_named(tiny_eurorad_csv, run_mlxclin):
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", tiny_eurorad_csv,
                         "--replay-columns", "m-1,gpt-9-M1")
    assert_one_line_error(result, "'gpt-9-M1'", "--replay-columns")


def test_empty_file(tmp_path, run_mlxclin):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = run_mlxclin("eval", "--task", "ophtho", "--backend", "replay", "--data", path, "--replay-columns", "a")
    assert_one_line_error(result, "empty")


def test_non_utf8_file(tmp_path, run_mlxclin):
    path = tmp_path / "latin1.csv"
    header = b"case_id,Section,PostDescription,DifferentialDiagnosisList,FinalDiagnosis,m-1"
    path.write_bytes(header + b"\n1,Chest,caf\xe9,a,a,a\n")
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", path, "--replay-columns", "m-1")
    assert_one_line_error(result, "not UTF-8")


def test_offline_without_data_says_how_to_provide_it(eval_offline_cache, run_mlxclin):
    result = run_mlxclin("eval", "--task", "ophtho", "--backend", "replay", "--replay-columns", "a")
    assert_one_line_error(result, "--data", "Ophthalmology.csv")


@pytest.mark.parametrize("args, fragment", [
    (["--backend", "mlx"], "needs --model"),
    (["--backend", "replay"], "--replay-columns"),
    (["--backend", "replay", "--replay-columns", "a,b", "--runs", "3"], "does not match"),
    (["--backend", "replay", "--replay-columns", "a", "--subset", "diagnosis"], "no subset 'diagnosis'"),
])
def test_option_errors(args, fragment, run_mlxclin):
    assert_one_line_error(run_mlxclin("eval", "--task", "eurorad", *args), fragment)


def test_console_script_error_is_one_line_without_traceback():
    proc = subprocess.run([sys.executable, "-c", "from mlxclin.cli import run; run()", "eval", "--task", "nope",
                           "--backend", "replay", "--replay-columns", "a"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "unknown task" in proc.stderr and "Traceback" not in proc.stderr


# --- published numbers from the stored predictions (acceptance) --------------------------------------------------

def _replay(run_mlxclin, tmp_path, task, data, columns, *extra):
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--task", task, "--backend", "replay", "--data", data,
                         "--replay-columns", ",".join(columns), "--out", out, *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.data
def test_eurorad_gpt51_reproduces_the_paper(clinical_data_dir, tmp_path, run_mlxclin):
    m = _replay(run_mlxclin, tmp_path, "eurorad", clinical_data_dir / "eurorad_test.csv",
                ["gpt-5.1-1113-M1", "gpt-5.1-1113-M2", "gpt-5.1-1113-M3"])
    acc = m["accuracy"]
    assert (acc["correct"], acc["n"], m["n_items"]) == (185, 207, 207)
    assert (round(acc["pct"], 1), round(acc["ci_low"], 1), round(acc["ci_high"], 1)) == (89.4, 84.4, 92.9)
    assert (m["groups"]["Musculoskeletal system"]["correct"], m["groups"]["Musculoskeletal system"]["n"]) == (41, 47)
    assert len(m["groups"]) == 10 and "Others" in m["groups"]


@pytest.mark.data
def test_eurorad_gpt_oss_20b_high_reproduces_the_paper(clinical_data_dir, tmp_path, run_mlxclin):
    m = _replay(run_mlxclin, tmp_path, "eurorad", clinical_data_dir / "eurorad_test.csv",
                ["oss-20b (H) v1", "oss-20b (H) v2", "oss-20b (H) v3"])
    acc = m["accuracy"]
    assert (acc["correct"], round(acc["pct"], 1), round(acc["ci_low"], 1), round(acc["ci_high"], 1)) == \
        (167, 80.7, 74.8, 85.5)


@pytest.mark.data
def test_ophthalmology_gpt51_reproduces_the_paper(clinical_data_dir, tmp_path, run_mlxclin):
    m = _replay(run_mlxclin, tmp_path, "ophtho", clinical_data_dir,
                ["gpt-5.1-1113-m1", "gpt-5.1-1113-m2", "gpt-5.1-1113-m3"])
    assert m["n_items"] == 130
    assert round(m["accuracy"]["pct"], 1) == 76.9
    assert round(m["groups"]["Diagnosis"]["pct"], 1) == 87.2 and m["groups"]["Diagnosis"]["n"] == 39
    assert round(m["groups"]["Management"]["pct"], 1) == 72.5 and m["groups"]["Management"]["n"] == 91


@pytest.mark.data
def test_judge_gpt51_reproduces_the_paper(clinical_data_dir, tmp_path, run_mlxclin):
    m = _replay(run_mlxclin, tmp_path, "judge", clinical_data_dir,
                ["gpt-5.1-1113-m1", "gpt-5.1-1113-m2", "gpt-5.1-1113-m3"])
    d, t = m["subsets"]["diagnosis"], m["subsets"]["treatment"]
    assert d["n"] == 720 and (d["median_error"], d["iqr_low"], round(d["iqr_high"], 3)) == (0.0, -0.5, 0.104)
    assert t["n"] == 595
    assert (round(t["median_error"], 3), t["iqr_low"], round(t["iqr_high"], 3)) == (0.333, 0.0, 0.667)
    assert set(d["frequency"]) == {"frequent", "less frequent", "rare"}
    assert set(d["groups"]) == {"Internal Medicine", "Pediatrics", "Neurology", "Surgery", "Gynecology"}


@pytest.mark.data
@pytest.mark.parametrize("task, file, columns", [
    ("eurorad", "eurorad_test.csv", ["deepseek r1 0528 v2", "deepseek r1 0528 v2.1", "deepseek r1 0528 v2.2"]),
    ("eurorad", "eurorad_test.csv", ["oss20b-13beams-v1"]),              # a single run, mojibake answers
    ("ophtho", "ophthalmology.csv", ["ds-r1-0528-v1", "oss20b (L) v3"]),  # any columns, any naming, mixed
])
def test_any_prediction_columns_replay(clinical_data_dir, tmp_path, run_mlxclin, task, file, columns):
    m = _replay(run_mlxclin, tmp_path, task, clinical_data_dir / file, columns)
    assert m["runs"] == len(columns) and len(m["per_run_accuracy"]) == len(columns)
    assert sum(m["match_types"].values()) == m["n_items"] * len(columns)
    assert 30 < m["accuracy"]["pct"] < 100


@pytest.mark.data
def test_judge_replay_with_empty_stored_scores(clinical_data_dir, tmp_path, run_mlxclin):
    # deepseek's treatment columns hold empty cells: they are unparsed runs, not a crash or a zero score.
    m = _replay(run_mlxclin, tmp_path, "judge", clinical_data_dir,
                ["deepseek-r1-0528-v1", "deepseek-r1-0528-v2", "deepseek-r1-0528-v3"], "--subset", "treatment")
    assert list(m["subsets"]) == ["treatment"]
    assert m["subsets"]["treatment"]["unparsed_runs"] > 0 and m["subsets"]["treatment"]["n"] == 595
