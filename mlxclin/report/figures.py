"""What each report figure shows, taken from the rows as plain data (plots.py draws it).

Keeping the data step here and the drawing in plots.py lets figures be drawn in worker processes that receive
only labels and numbers, never run directories.
"""

from pathlib import Path

from mlxclin.report import plots
from mlxclin.report.paired import judge_outcomes
from mlxclin.report.rows import EFFORT_ORDER, effort_rank


def headline(row) -> list:
    """(series name, value, ci_low, ci_high) per row: majority accuracy, or judge MAE per subset."""
    if row.is_choice:
        acc = row.metrics.get("accuracy") or {}
        if acc.get("pct") is None:
            return []
        return [("accuracy", acc["pct"], acc.get("ci_low"), acc.get("ci_high"))]
    return [(f"MAE {s}", m["mae"], None, None) for s, m in (row.metrics.get("subsets") or {}).items()
            if m.get("mae") is not None]


def perf_panels(by_task: dict, metric: str) -> dict:
    panels = {}
    for task, rows in by_task.items():
        points = [(r.label, r.perf[metric], headline(r)) for r in rows
                  if r.measured and r.perf and r.perf.get(metric) is not None and headline(r)]
        if points:
            panels[task] = points
    return panels


def heatmap_data(task: str, rows: list) -> tuple:
    from mlxclin.report.tables import group_order
    measured = [r for r in rows if r.measured and r.metrics.get("groups")]
    groups = group_order(measured)
    values = [[(r.metrics["groups"].get(g) or {}).get("pct") for g in groups] for r in measured]
    return task, [r.label for r in measured], groups, values


def judge_errors(rows: list) -> tuple:
    """(subset -> [(label, per-item errors)], note for when there is nothing to draw)."""
    data, with_samples = {}, False
    for r in rows:
        if r.measured and r.run.has_samples():
            with_samples = True
            for subset, items in judge_outcomes(r).items():
                data.setdefault(subset, []).append((r.label, [c - g for c, g in items.values()]))
    note = ("skipped: no judge item has a readable score in any run" if with_samples
            else "skipped: no judge run with samples.jsonl")
    return data, note


def effort_panels(by_task: dict) -> dict:
    """task -> {line label: points} for every model family seen at two or more efforts. At each effort a
    measured row wins over a reference one; a line drawing on references says so in its label."""
    panels = {}
    for task, rows in by_task.items():
        families = {}
        for r in sorted(rows, key=lambda r: not r.measured):
            if r.effort in EFFORT_ORDER and headline(r):
                families.setdefault(r.family, {}).setdefault(r.effort, r)
        lines = {}
        for family, by_effort in families.items():
            if len(by_effort) < 2:
                continue
            members = sorted(by_effort.values(), key=lambda r: effort_rank(r.effort))
            references = sorted({r.extra.get("version") or "reference" for r in members if not r.measured})
            suffix = f" ({', '.join(references)})" if references else ""
            for r in members:
                for name, y, lo, hi in headline(r):
                    label = family + suffix + (f" {name}" if task == "judge" else "")
                    lines.setdefault(label, []).append((effort_rank(r.effort), y, lo, hi))
        if lines:
            panels[task] = lines
    return panels


def _perf_skipped(metric: str) -> str:
    return f"skipped: no run has {metric} in perf.json (live runs write it; replays have no speed or memory)"


def figure_jobs(by_task: dict, plots_dir: Path) -> list:
    """[(section: task, or "" for report-wide figures, (draw function, args))], args plain data only."""
    jobs = []
    for task, rows in by_task.items():
        if task == "judge":
            jobs.append((task, (plots.judge_distributions, (*judge_errors(rows), plots_dir))))
        else:
            jobs.append((task, (plots.group_heatmap, (*heatmap_data(task, rows), plots_dir))))
    for metric, xlabel, key, title in (
            ("peak_memory_gb", "measured peak memory (GB)", "accuracy_vs_peak_memory", "score vs measured peak memory"),
            ("decode_tps", "decode tokens / s", "accuracy_vs_decode_speed", "score vs decode speed")):
        jobs.append(("", (plots.perf_scatter, (perf_panels(by_task, metric), plots_dir, xlabel, key, title,
                                               _perf_skipped(metric)))))
    jobs.append(("", (plots.effort_plot, (effort_panels(by_task), plots_dir))))
    return jobs
