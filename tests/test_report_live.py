"""Acceptance: a report from live toy-model runs (mlx backend, real perf.json) shows speed and memory filled.

Uses the session's converted toy gpt-oss (tests/conftest.py); the toy is random, so only the measurements count.
"""

import json

import pytest

from mlxclin.report.build import build_report

pytestmark = pytest.mark.slow


def test_report_from_live_toy_runs_fills_speed_and_memory(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin):
    out = tmp_path / "live"
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "mlx", "--model", toy_mlx_dir, "--data",
                         tiny_eurorad_csv, "--runs", "2", "--effort", "low", "--effort", "high", "--max-tokens", "6",
                         "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    perf = json.loads((out / "perf.json").read_text(encoding="utf-8"))

    report = build_report([out], tmp_path / "report", baselines="none", formats=("csv", "html"))
    summary = report.table("eurorad_summary")
    rows = {row[0]: dict(zip(summary.columns, row)) for row in summary.rows}
    assert set(rows) == {f"{toy_mlx_dir.name} · low", f"{toy_mlx_dir.name} · high"}
    for effort in ("low", "high"):
        row, measured = rows[f"{toy_mlx_dir.name} · {effort}"], perf["efforts"][effort]
        assert row["Decode tok/s"] == f"{measured['decode_tps']:.1f}" and measured["decode_tps"] > 0
        assert row["TTFT p50 s"] == f"{measured['ttft_s']['p50']:.2f}"
        assert row["Latency p50 / p95 s"].startswith(f"{measured['latency_s']['p50']:.2f} / ")
        assert row["Peak mem GB"] == f"{measured['peak_memory_gb']:.2f}"
        assert row["Model size GB"] != "–" and row["$ / 1,000 cases"] == "local" and row["Device"] != "–"
    figures = {p.key: p for p in report.all_plots()}
    assert figures["accuracy_vs_peak_memory"].png.is_file() and figures["accuracy_vs_decode_speed"].png.is_file()
    assert figures["accuracy_by_effort"].png.is_file()
    page = (tmp_path / "report" / next(iter(report.sample_pages.values()))).read_text(encoding="utf-8")
    assert "decode tok/s" in page and "TTFT s" in page          # per-sample timing for error review
