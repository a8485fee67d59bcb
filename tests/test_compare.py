"""`mlxclin compare RUN_A RUN_B`: the paired comparison in the terminal, and its one-line errors."""

import re
import shutil

import pytest

from report_support import tiny_runs
from support import assert_one_line_error


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


def test_compare_choice_runs_prints_mcnemar_with_discordant_counts(runs, run_mlxclin):
    result = run_mlxclin("compare", runs["eu_alpha"], runs["eu_beta"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "A = alpha" in out and "B = beta" in out
    assert re.search(r"accuracy % \(95% CI\)\s+87\.5 \(52\.9-97\.8\)\s+37\.5", out)
    assert "A right & B wrong 4, B right & A wrong 0" in out
    # McNemar with continuity correction: (|4 - 0| - 1)^2 / 4 = 2.25, p = 0.134; one test, so Holm changes nothing
    assert "McNemar χ² 2.25 · p 0.134 · p (Holm) 0.134 → not significant" in out
    assert re.search(r"Neuroradiology\s+100\.0 \(3/3\)\s+33\.3 \(1/3\)\s+-66\.7", out)


def test_compare_judge_runs_prints_wilcoxon_kappa_and_holm_over_subsets(runs, run_mlxclin):
    result = run_mlxclin("compare", runs["judge_alpha"], runs["judge_beta"])
    assert result.exit_code == 0, result.stderr
    tests = [line for line in result.stdout.splitlines() if "Wilcoxon" in line]
    assert [line.split(",")[0].strip() for line in tests] == ["diagnosis", "treatment"]
    # beta is further from the experts on all 6 items: exact two-sided p = 2/64 = 0.031, Holm over 2 tests: 0.062
    assert all("p 0.031 · p (Holm) 0.062 → not significant" in line for line in tests)
    assert "Holm correction across the 2 paired test(s)" in result.stdout
    assert "weighted κ" in tests[0] and "RuntimeWarning" not in result.stderr


def test_compare_pairs_efforts_and_shows_perf(runs, run_mlxclin):
    result = run_mlxclin("compare", runs["eu_live"], runs["eu_alpha"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("paired on 8 items") == 2          # low and high against the replay
    assert re.search(r"decode tok/s\s+80\.0\s+–", result.stdout)
    only_high = run_mlxclin("compare", runs["eu_live"], runs["eu_alpha"], "--effort", "high")
    assert only_high.exit_code == 0 and only_high.stdout.count("paired on") == 1
    assert "toy-gpt-oss · high" in only_high.stdout and "toy-gpt-oss · low" not in only_high.stdout


def test_compare_mixed_tasks_is_a_one_line_error(runs, run_mlxclin):
    assert_one_line_error(run_mlxclin("compare", runs["eu_alpha"], runs["judge_alpha"]),
                    "cannot compare a eurorad run", "judge run")


def test_compare_same_dir_missing_dir_and_missing_effort(runs, run_mlxclin, tmp_path):
    assert_one_line_error(run_mlxclin("compare", runs["eu_alpha"], runs["eu_alpha"]), "given twice")
    assert_one_line_error(run_mlxclin("compare", runs["eu_alpha"], tmp_path / "nope"), "does not exist")
    assert_one_line_error(run_mlxclin("compare", runs["eu_live"], runs["eu_alpha"], "--effort", "medium"),
                    "has no effort 'medium'; it has low, high")


def test_compare_refuses_runs_on_different_data(runs, run_mlxclin, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["eu_beta"], other)
    config = (other / "config.json").read_text(encoding="utf-8")
    sha = re.search(r'"sha256": "([0-9a-f]{64})"', config).group(1)
    (other / "config.json").write_text(config.replace(sha, "0" * 64), encoding="utf-8")
    assert_one_line_error(run_mlxclin("compare", runs["eu_alpha"], other), "read different data files")
