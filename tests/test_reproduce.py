"""`mlxclin reproduce`: every published cell against the released predictions under the paper protocol.

The data tests replay the shared copy of the released files (skip without it); the rest use tiny hand-made inputs.
"""

import csv
import json
import shutil
from pathlib import Path

import pytest

from mlxclin.reproduce.diff import CELLS_FILE, CellCheck, agrees, match_line
from mlxclin.reproduce.models import column_groups
from support import CLINICAL_DATA_DIR

needs_data = pytest.mark.skipif(not (CLINICAL_DATA_DIR / "eurorad_test.csv").is_file(),
                                reason=f"shared clinical data not found at {CLINICAL_DATA_DIR}")


# --- without the data ----------------------------------------------------------------------------------------

def test_column_groups_are_discovered_by_run_suffix_not_by_name():
    columns = ["case_id", "FinalDiagnosis", "gpt-5.1-1113-M1", "gpt-5.1-1113-M2", "gpt-5.1-1113-M3",
               "deepseek r1 0528 v2", "deepseek r1 0528 v2.1", "deepseek r1 0528 v2.2", "oss-20b (H) v1",
               "oss-20b (H) v2", "oss-20b (H) v3", "half-model-m1", "half-model-m2", "Model", "6"]
    groups, skipped = column_groups(columns, item_columns=("case_id", "FinalDiagnosis"))
    assert groups == {"gpt-5.1-1113": columns[2:5], "deepseek r1 0528": columns[5:8], "oss-20b (H)": columns[8:11]}
    assert skipped == {"half-model": ["half-model-m1", "half-model-m2"]}


@pytest.mark.parametrize("printed, value, recomputed, ok", [
    ("89.4", 89.4, 89.3720, True), ("89.4", 89.4, 89.4499, True), ("89.4", 89.4, 89.4502, False),
    ("0.10", 0.1, 0.1042, True), ("0.08", 0.08, 0.1042, False), ("-1.13", -1.13, -1.1042, False),
    ("207", 207, 207, True), ("five", 5, 5, True), ("five", 5, 6, False),
])
def test_agreement_at_printed_precision(printed, value, recomputed, ok):
    assert agrees({"printed": printed, "value": value}, recomputed) is ok
    assert agrees({"printed": printed, "value": value}, None) is False


def test_p_value_cells_check_the_printed_relation():
    cell = {"printed": "p>0.05", "value": 0.05, "relation": ">"}
    assert agrees(cell, 0.31) and not agrees(cell, 0.01)
    assert agrees({"printed": "p<0.001", "value": 0.001, "relation": "<"}, 0.0002)


def test_match_line_names_differences_and_flags_unexpected_ones():
    cell = {"table": "T", "task": "ophtho", "model": "M", "group": "Overall", "metric": "accuracy_pct",
            "printed": "70.0", "value": 70.0}
    checks = [CellCheck({**cell, "expected": "match"}, 70.01, True),
              CellCheck({**cell, "expected": "inconsistent"}, 77.69, False),
              CellCheck({**cell, "expected": "match"}, 71.0, False)]
    line = match_line("T", checks)
    assert line.startswith("T (ophtho): 1/3 cells match; 2 differ (1 known inconsistencies): ")
    assert "M Overall accuracy_pct 70.0 vs 77.69;" in line and "vs 71 (UNEXPECTED)" in line


def test_published_cells_file_has_table_source_and_expectation_for_every_cell():
    cells = json.loads(CELLS_FILE.read_text(encoding="utf-8"))["cells"]
    assert len(cells) == 2100
    assert all(c["table"] and c["source"].startswith("paper/") and c["expected"] in ("match", "inconsistent")
               for c in cells)
    assert sum(c["expected"] == "inconsistent" for c in cells) == 46
    assert all(c.get("note") for c in cells if c["expected"] == "inconsistent")


# --- on the released data --------------------------------------------------------------------------------------

@needs_data
@pytest.mark.data
def test_reproduce_matches_every_reproducible_cell_and_reports_exactly_the_inconsistent_ones(tmp_path, run_mlxclin):
    out = tmp_path / "R"
    result = run_mlxclin("reproduce", "--data", CLINICAL_DATA_DIR, "--out", out)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "main Table 2 (ophtho): 90/90 cells match" in lines
    assert any(line.startswith("main Table 1 (eurorad/finetune): 75/77 cells match; 2 differ (2 known "
                               "inconsistencies): 20b-FT Cardiovascular accuracy_pct 83.3 vs 66.67") for line in lines)
    assert "2100 published cells: 2054 match, 46 differ (46 known inconsistencies of the paper, 0 unexpected)" in lines
    assert lines[-1].startswith(f"report: {out / 'report.html'}")

    cells = json.loads((out / "reproduce.json").read_text(encoding="utf-8"))["cells"]
    published = {c["id"]: c for c in json.loads(CELLS_FILE.read_text(encoding="utf-8"))["cells"]}
    source = json.loads((CLINICAL_DATA_DIR / "published" / "paper_cells.json").read_text(encoding="utf-8"))
    known = {k["id"] for k in source["meta"]["known_inconsistencies"]}
    assert {c["id"] for c in cells} == set(published)
    assert {c["id"] for c in cells if not c["matches"]} == known
    assert all(c["recomputed"] is not None for c in cells)
    # the headline numbers of the data README, recomputed
    by_id = {c["id"]: c for c in cells}
    assert by_id[1]["recomputed"] == pytest.approx(100 * 41 / 47)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "known inconsistency" in html and "http://" not in html and "https://" not in html.split("<body>")[1]


@needs_data
@pytest.mark.data
def test_an_unseen_three_column_group_becomes_a_row_without_code_changes(tmp_path, run_mlxclin):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("eurorad_test.csv", "ophthalmology.csv", "judge_diagnosis.csv", "judge_treatment.csv"):
        shutil.copy(CLINICAL_DATA_DIR / name, data / name)
    with open(CLINICAL_DATA_DIR / "eurorad_test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0]) + ["never-seen-7b-M1", "never-seen-7b-M2", "never-seen-7b-M3"]
    for row in rows:   # always the gold answer: 207/207
        row.update({c: row["FinalDiagnosis"] for c in header[-3:]})
    with open(data / "eurorad_test.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "R"
    result = run_mlxclin("reproduce", "--data", data, "--out", out)
    assert result.exit_code == 0, result.stderr
    table = (out / "tables" / "eurorad_accuracy.csv").read_text(encoding="utf-8").splitlines()
    assert "never-seen-7b,100.0 (98.2-100.0),207/207,100.0,100.0,–" in table
    assert "0 unexpected" in result.stdout    # the published cells are unaffected


@needs_data
@pytest.mark.data
def test_reproduce_report_renders_offline_in_chromium(tmp_path, run_mlxclin):
    from test_report_html import render_report as render   # scripts/render_report.py, loaded once

    if render.find_chromium() is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    out = tmp_path / "R"
    assert run_mlxclin("reproduce", "--data", CLINICAL_DATA_DIR, "--out", out).exit_code == 0
    result = render.render(out / "report.html", tmp_path / "render")
    assert result["remote_requests"] == [] and result["summary"].remote_urls() == []
    assert "published_summary" in result["summary"].table_keys and "judge_treatment_summary" in result["summary"].table_keys
    assert "2054" in result["dom"]


def test_reproduce_without_the_files_is_one_clear_error(tmp_path, run_mlxclin):
    from support import assert_one_line_error
    (tmp_path / "empty").mkdir()
    result = run_mlxclin("reproduce", "--data", tmp_path / "empty", "--out", tmp_path / "R")
    assert_one_line_error(result, "without eurorad_test.csv")


def test_docs_list_every_protocol_difference():
    from mlxclin.protocol import DIFFERENCES
    readme = (Path(__file__).resolve().parents[1] / "docs" / "reproduce.md").read_text(encoding="utf-8")
    table = readme.split("| rule | paper | mlxclin | why mlxclin differs |")[1].split("\n\n")[0]
    rows = [line.split("|")[1].strip() for line in table.strip().splitlines()[1:]]
    assert rows == [rule.replace("->", "→") for rule, *_ in DIFFERENCES]


# --- --live on the toy model ------------------------------------------------------------------------------------

def test_live_flags_without_live_are_one_clear_error(tmp_path, run_mlxclin):
    from support import assert_one_line_error
    result = run_mlxclin("reproduce", "--model", tmp_path, "--out", tmp_path / "R")
    assert_one_line_error(result, "belong to --live")
    result = run_mlxclin("reproduce", "--live", "--model", tmp_path, "--efforts", "low,extreme", "--out", tmp_path / "R")
    assert_one_line_error(result, "--efforts 'low,extreme': choose from low, medium, high")


@needs_data
@pytest.mark.data
def test_live_dry_run_prints_the_plan_only(toy_mlx_dir, tmp_path, run_mlxclin):
    out = tmp_path / "R"
    result = run_mlxclin("reproduce", "--live", "--model", toy_mlx_dir, "--limit", "2", "--max-tokens", "16",
                         "--efforts", "L,H", "--data", CLINICAL_DATA_DIR, "--out", out, "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("plan: eurorad: 2 items × 3 runs × 2 efforts (low, high) = 12 requests, ≈")
    assert "≤192 completion tokens" in lines[0]
    assert lines[2].startswith("plan: judge: 4 items × 3 runs × 2 efforts (low, high) = 24 requests")
    assert lines[-1].startswith("plan: 48 requests in all") and not out.exists()


@pytest.mark.slow
@needs_data
@pytest.mark.data
def test_live_toy_runs_all_three_tasks_beside_the_published_rows(toy_mlx_dir, tmp_path, run_mlxclin):
    out = tmp_path / "R"
    args = ("reproduce", "--live", "--model", toy_mlx_dir, "--limit", "2", "--max-tokens", "16",
            "--data", CLINICAL_DATA_DIR, "--out", out)
    result = run_mlxclin(*args)
    assert result.exit_code == 0, result.stderr
    name = Path(toy_mlx_dir).name
    assert f"live rows beside the published models: {name} (H), {name} (L), {name} (M)" in result.stdout
    assert "0 unexpected" in result.stdout and "requests/s measured, ETA" in result.stderr
    for table, n in (("eurorad_accuracy", 2), ("ophtho_accuracy", 2)):
        rows = (out / "tables" / f"{table}.csv").read_text(encoding="utf-8").splitlines()
        live = [r for r in rows if r.startswith(f"{name} (") and "· live" in r]
        assert len(live) == 3 and all(f"/{n}," in r for r in live)
        assert any(r.startswith("gpt-5.1-1113,89.4 (84.4-92.9),185/207") for r in rows) or table != "eurorad_accuracy"
    judge = (out / "tables" / "judge_diagnosis_summary.csv").read_text(encoding="utf-8")
    assert f"{name} (L) · live" in judge and "gpt-5.1-1113,720," in judge
    samples = (out / "live" / "judge" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(samples) == 2 * 2 * 3 * 3          # 2 items per subset x 2 subsets x 3 runs x 3 efforts
    # resumable: a second call finds every request done and generates nothing
    again = run_mlxclin(*args)
    assert again.exit_code == 0 and "0 new samples" in again.stderr
