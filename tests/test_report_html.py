"""The HTML report renders in headless Chromium, offline: tables and embedded figures, and no request leaves.

Uses scripts/render_report.py (which blocks name resolution and reads Chromium's net log for the requests the
page itself started). Skips cleanly without a Chromium binary (Debian: apt-get install chromium).
"""

import importlib.util
import struct
from pathlib import Path

import pytest

from mlxclin.report.build import build_report
from report_support import CLINICAL_DATA_DIR, shared_runs, tiny_runs

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "render_report.py"


def _load_renderer():
    spec = importlib.util.spec_from_file_location("render_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_report = _load_renderer()
needs_chromium = pytest.mark.skipif(render_report.find_chromium() is None,
                                    reason="no chromium binary (apt-get install chromium)")


def _png_size(path: Path) -> tuple:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def _check_rendered(report, html: Path, out: Path) -> dict:
    result = render_report.render(html, out)
    summary = result["summary"]
    expected_tables = [t.key for t in report.all_tables() if t.rows]
    assert summary.tables == len(expected_tables) and summary.table_keys == expected_tables
    figures = [p for s in report.sections.values() for p in s.plots] + report.general_plots
    assert summary.data_images == sum(p.png is not None for p in figures) > 0
    assert summary.other_images == 0 and summary.remote_urls() == []
    assert result["remote_requests"] == []
    assert _png_size(result["screenshot"]) == (1400, 2400)
    assert result["screenshot"].stat().st_size > 50_000        # a rendered page, not a blank one
    return result


@needs_chromium
def test_html_report_renders_offline_with_tables_and_figures(tmp_path_factory, tmp_path):
    runs = tiny_runs(tmp_path_factory)
    report = build_report([runs["eu_alpha"], runs["eu_beta"], runs["eu_live"], runs["judge_alpha"],
                           runs["judge_beta"], runs["judge_live"]], tmp_path / "rep", baselines="paper")
    result = _check_rendered(report, tmp_path / "rep" / "report.html", tmp_path / "render")
    assert "eurorad_groups" in result["summary"].table_keys and "judge_paired" in result["summary"].table_keys
    assert "Apple M3 Max" in result["dom"] and "toy-gpt-oss · high" in result["dom"]
    # the per-sample pages are linked relatively and render offline too
    page = tmp_path / "rep" / next(iter(report.sample_pages.values()))
    sample_dom = render_report.render(page, tmp_path / "render-samples")
    assert sample_dom["summary"].tables == 1 and sample_dom["remote_requests"] == []


@needs_chromium
def test_the_network_check_catches_a_page_that_fetches(tmp_path):
    # Control: the same check must fail on a page that asks for a remote image.
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><table><tr><td>x</td></tr></table>'
                    '<img src="http://example.invalid/x.png"></body></html>', encoding="utf-8")
    result = render_report.render(page, tmp_path / "render")
    assert result["summary"].remote_urls() == ["<img src=http://example.invalid/x.png>"]
    assert "http://example.invalid/x.png" in result["remote_requests"]


@needs_chromium
@pytest.mark.data
def test_shared_data_report_renders_offline(tmp_path_factory, tmp_path):
    if not (CLINICAL_DATA_DIR / "eurorad_test.csv").is_file():
        pytest.skip(f"shared clinical data not found at {CLINICAL_DATA_DIR}")
    runs = shared_runs(tmp_path_factory)
    report = build_report(list(runs.values()), tmp_path / "rep", baselines="paper", formats=("html",))
    result = _check_rendered(report, tmp_path / "rep" / "report.html", tmp_path / "render")
    assert "89.4 (185/207)" in result["dom"] and "0.000 (-0.500 to 0.104)" in result["dom"]


VISIBLE_COLUMNS = ("Decode tok/s", "TTFT p50 s", "Latency p50 / p95 s", "Peak mem GB", "Model size GB",
                   "$ / 1,000 cases", "Device")


@needs_chromium
def test_summary_tables_show_speed_memory_and_size_in_a_1400px_window(tmp_path_factory, tmp_path):
    import json
    import shutil

    from report_support import make_live

    runs = tiny_runs(tmp_path_factory)
    lora = shutil.copytree(runs["eu_live"], tmp_path / "lora-run")   # the longest label a report makes
    config = json.loads((lora / "config.json").read_text())
    (lora / "config.json").write_text(json.dumps({**config, "adapter_path": "adapters/eurorad-rank16-all-layers"}))
    judge_low = make_live(runs["judge_beta"], tmp_path / "judge-low", "gpt-oss-120b-mxfp4", efforts=("low",))
    build_report([runs["eu_alpha"], runs["eu_beta"], runs["eu_live"], lora, runs["judge_alpha"],
                  runs["judge_live"], judge_low], tmp_path / "rep", baselines="paper", formats=("html",))
    measured = render_report.measure_tables(tmp_path / "rep" / "report.html", width=1400)
    summaries = {k: v for k, v in measured.items() if k.endswith("_summary")}
    assert set(summaries) == {"eurorad_summary", "judge_summary"}
    for key, m in summaries.items():
        assert m["viewport"] == 1400
        assert m["scroll_width"] <= m["client_width"], (key, m)          # no horizontal scroll at all
        for column in VISIBLE_COLUMNS:
            assert m["column_right"][column] <= min(m["box_right"], m["viewport"]), (key, column, m)
