"""`mlxclin report` on tiny hand-made runs: tables, Holm correction, live perf columns, baselines, bad input."""

import csv
import json
import shutil

import pytest
from statsmodels.stats.multitest import multipletests

from mlxclin import stats
from mlxclin.errors import MlxclinError
from mlxclin.report import tables
from mlxclin.report.baselines import baseline_rows, load_entries, published_checks
from mlxclin.report.build import build_report, collect_rows
from mlxclin.report.paired import PairResult, choice_outcomes, holm, pairwise
from mlxclin.report.rows import rows_by_task, split_effort
from mlxclin.report.rundirs import load_run
from report_support import tiny_runs
from support import assert_one_line_error


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


def _csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _cell(table, row_name, column):
    """Cell of a Table by first-column value and column name."""
    index = table.columns.index(column)
    return next(r[index] for r in table.rows if r[0] == row_name)


# --- Holm correction ---------------------------------------------------------------------------------------------

def test_holm_adjusts_pvalues_step_down():
    results = [PairResult("eurorad", "", "a", "b", 10, "McNemar", 1.0, p) for p in (0.01, 0.04, 0.03)]
    holm(results)
    # Holm: sorted 0.01*3 = 0.03, 0.03*2 = 0.06, then 0.04*1 = 0.04 raised to the running maximum 0.06.
    assert [r.p_holm for r in results] == pytest.approx([0.03, 0.06, 0.06])
    assert [r.significant for r in results] == [True, False, False]


def test_pairwise_applies_holm_across_the_pairs_of_a_task(runs):
    _, rows = collect_rows([runs["eu_alpha"], runs["eu_beta"], runs["eu_live"]], baselines="none")
    results, notes = pairwise(rows)
    # 4 measured rows (alpha, beta, live low, live high) -> 6 pairs, every one sharing the 8 items.
    assert len(results) == 6 and not notes and {r.n for r in results} == {8}
    expected = multipletests([r.p_value for r in results], method="holm")[1]
    assert [r.p_holm for r in results] == pytest.approx(list(expected))
    alpha_beta = next(r for r in results if {r.a, r.b} == {"alpha", "beta"})
    direct = stats.mcnemar_test(*[[choice_outcomes(row)[k] for k in sorted(choice_outcomes(row))]
                                  for row in rows[:2]])
    assert (alpha_beta.details["a_only"], alpha_beta.details["b_only"]) == (4, 0)
    assert alpha_beta.p_value == pytest.approx(direct["p_value"])
    assert alpha_beta.p_holm > alpha_beta.p_value


# --- tables ------------------------------------------------------------------------------------------------------

def test_group_table_and_summary_from_tiny_runs(runs):
    _, rows = collect_rows([runs["eu_alpha"], runs["eu_beta"]], baselines="none")
    groups = tables.group_table("eurorad", rows)
    assert groups.columns == ["Group", "alpha", "beta"]
    assert _cell(groups, "Overall", "alpha") == "87.5 (7/8)" and _cell(groups, "Overall", "beta") == "37.5 (3/8)"
    assert _cell(groups, "Others", "alpha") == "50.0 (1/2)"          # interventional + genital pooled
    assert _cell(groups, "Musculoskeletal system", "beta") == "0.0 (0/1)"
    assert _cell(groups, "pass@k (any run correct)", "alpha") == "100.0 (8/8)"
    summary = tables.choice_summary("eurorad", rows)
    assert "pass@3 %" in summary.columns
    alpha = dict(zip(summary.columns, summary.rows[0]))
    assert alpha["Accuracy % (95% CI)"].startswith("87.5 (") and alpha["Correct"] == "7/8"
    assert alpha["Decode tok/s"] == "–" and alpha["Kind"] == "measured · replay"


def test_judge_tables_by_specialty_and_frequency(runs):
    _, rows = collect_rows([runs["judge_alpha"], runs["judge_beta"]], baselines="none")
    by_specialty = tables.judge_breakdown(rows, "specialty")
    cells = {(r[0], r[1]): r[2:] for r in by_specialty.rows}
    # alpha's consensus is its expert score + 1/6 on every item
    assert cells[("diagnosis", "Overall")][0] == "0.167 (0.167 to 0.167)"
    assert set(k[1] for k in cells) == {"Overall", "Neurology", "Surgery", "Pediatrics"}
    by_frequency = tables.judge_breakdown(rows, "frequency")
    assert {r[1] for r in by_frequency.rows} == {"Overall", "frequent", "less frequent", "rare"}
    summary = tables.judge_summary(rows)
    assert [r[3] for r in summary.rows] == ["diagnosis", "treatment", "diagnosis", "treatment"]


def test_effort_is_read_from_paper_style_labels_only_when_not_recorded():
    assert split_effort("oss-20b (H)", "unknown") == ("oss-20b", "high", True)
    assert split_effort("oss20b (L)", "") == ("oss20b", "low", True)
    assert split_effort("oss-20b (H)", "low") == ("oss-20b", "low", False)   # a recorded effort wins
    assert split_effort("gpt-5.1-1113", "unknown") == ("gpt-5.1-1113", "unknown", False)


# --- live runs: speed, memory, efforts ---------------------------------------------------------------------------

def test_live_run_fills_speed_and_memory_columns(runs, tmp_path):
    report = build_report([runs["eu_alpha"], runs["eu_live"], runs["judge_live"]], tmp_path / "rep",
                          baselines="none", formats=("csv", "md"))
    summary = report.table("eurorad_summary")
    live = {row[0]: dict(zip(summary.columns, row)) for row in summary.rows}
    high = live["toy-gpt-oss · high"]
    assert high["Decode tok/s"] == "61.5" and live["toy-gpt-oss · low"]["Decode tok/s"] == "80.0"
    assert high["TTFT p50 s"] == "0.42" and high["Latency p50 / p95 s"] == "6.10 / 14.20"
    assert high["Peak mem GB"] == "13.40" and high["Model size GB"] == "12.1"
    assert high["$ / 1,000 cases"] == "local" and high["Device"] == "Apple M3 Max · 64 GB · macOS 15.1"
    assert live["alpha"]["Decode tok/s"] == "–"                        # a replay has no perf.json
    judge = dict(zip(report.table("judge_summary").columns, report.table("judge_summary").rows[0]))
    assert judge["Decode tok/s"] == "61.5" and judge["Peak mem GB"] == "13.40"
    written = {row[0]: dict(zip(summary.columns, row))
               for row in _csv(tmp_path / "rep" / "tables" / "eurorad_summary.csv")[1:]}
    assert (written["toy-gpt-oss · high"]["Decode tok/s"], written["toy-gpt-oss · high"]["TTFT p50 s"]) == \
        ("61.5", "0.42")
    # with perf data the speed and memory figures exist; the effort sweep gives an effort table and figure
    plots = {p.key: p for p in report.general_plots}
    assert plots["accuracy_vs_peak_memory"].png.is_file() and plots["accuracy_vs_peak_memory"].svg.is_file()
    assert plots["accuracy_vs_decode_speed"].png.is_file() and plots["accuracy_by_effort"].png.is_file()
    effort = report.table("eurorad_effort")
    assert [(r[0], r[1]) for r in effort.rows] == [("toy-gpt-oss", "low"), ("toy-gpt-oss", "high")]
    assert effort.rows[0][effort.columns.index("Reasoning tokens / item")] == "412"


def test_plots_needing_perf_are_skipped_with_a_note_for_replays(runs, tmp_path):
    report = build_report([runs["eu_alpha"], runs["eu_beta"]], tmp_path / "rep", baselines="none", formats=("md",))
    plots = {p.key: p for p in report.general_plots}
    assert plots["accuracy_vs_peak_memory"].png is None and "perf.json" in plots["accuracy_vs_peak_memory"].note
    assert not (tmp_path / "rep" / "plots" / "accuracy_vs_peak_memory.png").exists()
    assert report.sections["eurorad"].plots[0].png.is_file()                   # the heatmap needs no perf data
    markdown = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "skipped: no run has peak_memory_gb" in markdown and "plots/eurorad_groups_heatmap.png" in markdown


def test_multi_effort_run_gives_one_row_per_effort_and_filters_samples(runs):
    run = load_run(runs["eu_live"])
    assert list(run.effort_blocks()) == ["low", "high"]
    _, rows = collect_rows([runs["eu_live"]], baselines="none")
    assert [r.label for r in rows] == ["toy-gpt-oss · low", "toy-gpt-oss · high"]
    assert [r.perf["decode_tps"] for r in rows] == [80.0, 61.5]
    assert all(len(choice_outcomes(r)) == 8 for r in rows)     # 8 items per effort, not 16


# --- outputs -----------------------------------------------------------------------------------------------------

def test_formats_csv_only_writes_tables_and_json(runs, tmp_path, run_mlxclin):
    out = tmp_path / "rep"
    result = run_mlxclin("report", runs["eu_alpha"], runs["judge_alpha"], "--out", out, "--format", "csv",
                         "--baselines", "none")
    assert result.exit_code == 0, result.stderr
    assert (out / "tables" / "eurorad_groups.csv").is_file() and (out / "tables" / "judge_groups.csv").is_file()
    assert not (out / "report.html").exists() and not (out / "plots").exists()
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["rows"][0]["metrics"]["accuracy"]["correct"] == 7     # unrounded values beside the tables


def test_samples_page_shows_reasoning_and_marks_items_to_review(runs, tmp_path):
    report = build_report([runs["eu_live"]], tmp_path / "rep", baselines="none", formats=("html",))
    page = (tmp_path / "rep" / next(iter(report.sample_pages.values()))).read_text(encoding="utf-8")
    assert "Thinking at high effort about 108." in page and "Thinking at low effort about 101." in page
    assert page.count('<tr class="review">') == 2 * 3          # item 108 is wrong: 3 runs × 2 efforts
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert 'href="samples/01-eu-live.html"' in html


# --- baselines ---------------------------------------------------------------------------------------------------

def test_published_baselines_are_checked_against_a_replay_of_the_same_model(runs, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[baseline]]\ntask = "eurorad"\nmodel = "Alpha"\nkind = "published"\nversion = "v9"\n'
                    'source = "a made-up paper, Table 1"\nreplay_model = "alpha"\n'
                    '[baseline.metrics.accuracy]\npct = 87.5\ncorrect = 7\n'
                    '[baseline.metrics.groups.Others]\npct = 60.0\n', encoding="utf-8")
    _, rows = collect_rows([runs["eu_alpha"], runs["eu_beta"]], baselines=str(path))
    assert [r.label for r in rows] == ["alpha", "beta", "Alpha (v9)"]
    checks = {c.metric: c for c in published_checks(rows)}
    assert checks["accuracy › pct"].agrees and checks["accuracy › correct"].agrees
    assert not checks["groups › Others › pct"].agrees and checks["groups › Others › pct"].measured_value == 50.0
    table = tables.checks_table(list(checks.values()))
    assert "2 of 3" in table.notes[0] and "NO" in [r[-1] for r in table.rows]


def test_paper_baselines_have_sources_and_only_tasks_present_appear(runs):
    entries = load_entries("paper")
    assert entries and all(e["source"] and e["kind"] in ("published", "measured") for e in entries)
    published = [e for e in entries if e["kind"] == "published"]
    assert {e["task"] for e in published} == {"eurorad", "ophtho", "judge"}
    _, rows = collect_rows([runs["eu_alpha"]], baselines="paper")
    assert {r.task for r in rows} == {"eurorad"}
    assert any(r.kind == "published · paper v2" for r in rows)
    assert all(r.kind.endswith("reference") for r in rows if not r.measured and not r.extra["published"])


def test_measured_reference_rows_give_way_to_the_users_own_replay(runs):
    entries = [{"task": "eurorad", "model": "alpha", "kind": "measured", "source": "x", "file": "f",
                "replay_model": "alpha", "metrics": {"accuracy": {"pct": 1.0}}}]
    _, measured = collect_rows([runs["eu_alpha"]], baselines="none")
    assert baseline_rows(entries, measured) == []
    assert len(baseline_rows(entries, [])) == 1


# --- bad input: one-line errors ----------------------------------------------------------------------------------

def test_missing_run_dir(run_mlxclin, tmp_path):
    assert_one_line_error(run_mlxclin("report", tmp_path / "nope", "--out", tmp_path / "r"), "does not exist")


def test_dir_without_metrics(run_mlxclin, tmp_path):
    (tmp_path / "run").mkdir()
    assert_one_line_error(run_mlxclin("report", tmp_path / "run", "--out", tmp_path / "r"), "has no metrics.json")


def test_damaged_metrics_and_foreign_json(run_mlxclin, runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["eu_alpha"], bad)
    (bad / "metrics.json").write_text("{not json", encoding="utf-8")
    assert_one_line_error(run_mlxclin("report", bad, "--out", tmp_path / "r"), "not valid JSON")
    (bad / "metrics.json").write_text('{"task": "eurorad", "model": "m"}', encoding="utf-8")
    assert_one_line_error(run_mlxclin("report", bad, "--out", tmp_path / "r"), "neither 'accuracy' nor 'subsets'")


def test_bad_format_unknown_baselines_and_duplicate_dirs(run_mlxclin, runs, tmp_path):
    run = runs["eu_alpha"]
    assert_one_line_error(run_mlxclin("report", run, "--out", tmp_path / "r", "--format", "pdf"), "--format")
    assert_one_line_error(run_mlxclin("report", run, "--out", tmp_path / "r", "--baselines", "nature"),
                    "no baseline set 'nature'")
    assert_one_line_error(run_mlxclin("report", run, run, "--out", tmp_path / "r"), "given twice")


def test_torn_last_sample_line_is_tolerated_but_not_a_torn_middle(runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(runs["eu_alpha"], run_dir)
    lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    (run_dir / "samples.jsonl").write_text("\n".join(lines + ['{"item_id": "1']) + "\n", encoding="utf-8")
    assert len(load_run(run_dir).samples()) == len(lines)
    (run_dir / "samples.jsonl").write_text("\n".join(['{"item_id'] + lines) + "\n", encoding="utf-8")
    with pytest.raises(MlxclinError, match="line 1 is not valid JSON"):
        load_run(run_dir).samples()


def test_rows_by_task_keeps_the_papers_order(runs):
    _, rows = collect_rows([runs["judge_alpha"], runs["eu_alpha"]], baselines="none")
    assert list(rows_by_task(rows)) == ["eurorad", "judge"]


def test_make_live_helper_round_trips(runs):
    # The fixture the live-column tests rely on really is read as an mlx run with a device.
    run = load_run(runs["judge_live"])
    assert run.backend == "mlx" and run.info("device")["chip"] == "Apple M3 Max"


def test_two_runs_of_the_same_model_get_distinct_labels(runs, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(runs["eu_alpha"], again)
    _, rows = collect_rows([runs["eu_alpha"], again], baselines="none")
    assert [r.label for r in rows] == ["alpha [eu-alpha]", "alpha [again]"]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="worker processes need fork")
def test_figures_drawn_by_worker_processes_equal_the_serial_ones(runs, tmp_path):
    from mlxclin.report.jobs import JobPool
    paths = [runs["eu_alpha"], runs["eu_live"], runs["judge_alpha"], runs["judge_beta"]]
    with JobPool(workers=2) as pool:
        parallel = build_report(paths, tmp_path / "par", baselines="none", formats=("md",), pool=pool)
    with JobPool(workers=1) as pool:
        serial = build_report(paths, tmp_path / "ser", baselines="none", formats=("md",), pool=pool)
    assert [p.key for p in parallel.all_plots()] == [p.key for p in serial.all_plots()]
    drawn = [p for p in parallel.all_plots() if p.png is not None]
    assert len(drawn) == 5                        # heatmap, judge boxes, memory, speed, effort
    for plot in drawn:
        assert plot.png.read_bytes() == (tmp_path / "ser" / "plots" / plot.png.name).read_bytes()
