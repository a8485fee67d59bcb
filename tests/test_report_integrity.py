"""Reports that say what they show (issue 11): one per-sample page per run even when runs share a label, LoRA runs
named as such (report and compare), compare warns about differing settings, and a metrics.json that contradicts
its samples.jsonl is flagged."""

import json
import shutil

from mlxclin.report.build import build_report
from mlxclin.report.compare import compare_text
from report_support import make_live, tiny_runs


def _lora_copy(src, dst, adapter="adapters/eurorad-r16"):
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["adapter_path"] = adapter
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_per_sample_pages_do_not_collide_when_runs_share_a_label(tmp_path_factory, tmp_path):
    runs = tiny_runs(tmp_path_factory)
    # the demo's case: one model evaluated on two tasks gives two runs with the same label
    eu = make_live(runs["eu_alpha"], tmp_path / "eu", "toy-gpt-oss", efforts=("low",))
    judge = make_live(runs["judge_alpha"], tmp_path / "judge", "toy-gpt-oss", efforts=("low",))
    report = build_report([eu, judge], tmp_path / "rep", baselines="none", formats=("html", "md"))
    assert len(report.sample_pages) == 2 and len(set(report.sample_pages.values())) == 2
    html = (tmp_path / "rep" / "report.html").read_text()
    for path in report.sample_pages.values():
        assert f'href="{path}"' in html and (tmp_path / "rep" / path).is_file()


def test_lora_runs_are_labelled_in_report_and_compare_and_compare_warns(tmp_path_factory, tmp_path):
    runs = tiny_runs(tmp_path_factory)
    base = make_live(runs["eu_alpha"], tmp_path / "base", "gpt-oss-20b", efforts=("high",))
    tuned = _lora_copy(base, tmp_path / "tuned")
    report = build_report([base, tuned], tmp_path / "rep", baselines="none", formats=("md",))
    labels = sorted(r.label for r in report.rows)
    assert labels == ["gpt-oss-20b + LoRA eurorad-r16 · high", "gpt-oss-20b · high"]
    assert "measured · mlx + LoRA" in {r.kind for r in report.rows}
    assert "gpt-oss-20b + LoRA eurorad-r16" in (tmp_path / "rep" / "report.md").read_text()

    text = compare_text(base, tuned)
    assert "B = gpt-oss-20b + LoRA eurorad-r16 · high" in text
    assert "warning: A uses no adapter, B LoRA adapter adapters/eurorad-r16" in text
    low = make_live(runs["eu_alpha"], tmp_path / "low", "gpt-oss-20b", efforts=("low",))
    assert "warning: A ran at effort high, B at low" in compare_text(base, low)
    assert "warning" not in compare_text(base, make_live(runs["eu_beta"], tmp_path / "same", "other", efforts=("high",)))


def test_report_warns_when_metrics_contradict_samples(tmp_path_factory, tmp_path, run_mlxclin):
    runs = tiny_runs(tmp_path_factory)
    eu, judge = shutil.copytree(runs["eu_alpha"], tmp_path / "eu"), shutil.copytree(runs["judge_alpha"],
                                                                                    tmp_path / "judge")
    clean = run_mlxclin("report", eu, judge, "--out", tmp_path / "clean", "--baselines", "none", "--format", "md")
    assert clean.exit_code == 0 and "warning" not in clean.stderr
    metrics = json.loads((eu / "metrics.json").read_text())
    metrics["accuracy"]["correct"] += 1              # a hand-edited or stale number
    (eu / "metrics.json").write_text(json.dumps(metrics))
    metrics = json.loads((judge / "metrics.json").read_text())
    metrics["subsets"]["diagnosis"]["n"] = 99
    (judge / "metrics.json").write_text(json.dumps(metrics))
    result = run_mlxclin("report", eu, judge, "--out", tmp_path / "rep", "--baselines", "none", "--format", "md,html")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("mlxclin: warning:")]
    assert len(warnings) == 2
    assert "says 8/8 correct" in warnings[0] and "samples.jsonl gives 7/8" in warnings[0]
    assert "n 99" in warnings[1] and "samples.jsonl has 6 scored items" in warnings[1]
    assert "Warning:" in (tmp_path / "rep" / "report.html").read_text()
    assert len(json.loads((tmp_path / "rep" / "report.json").read_text())["warnings"]) == 2
