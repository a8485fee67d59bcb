"""Assemble a report from run directories: rows -> tables, paired tests, plots -> Markdown, CSV, HTML, JSON.

REPORT_DIR/
    report.md · report.html · report.json (unrounded values) · tables/*.csv · plots/*.png|svg · samples/*.html
"""

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlxclin import __version__
from mlxclin.errors import MlxclinError
from mlxclin.report import tables
from mlxclin.report.baselines import baseline_rows, load_entries, published_checks
from mlxclin.report.figures import figure_jobs
from mlxclin.report.formats import FORMATS, write_csvs
from mlxclin.report.jobs import JobPool
from mlxclin.report.consistency import consistency_warnings
from mlxclin.report.paired import pairwise
from mlxclin.report.rows import assign_labels, rows_by_task, rows_from_run
from mlxclin.report.rundirs import load_runs


@dataclass
class Section:
    title: str
    tables: list = field(default_factory=list)
    plots: list = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    runs: list
    rows: list
    sections: dict                     # task -> Section
    general_plots: list = field(default_factory=list)
    tail_tables: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    sample_pages: dict = field(default_factory=dict)   # link text (task, labels, run) -> path relative to report.html
    warnings: list = field(default_factory=list)       # one line each: what in the run directories contradicts itself
    files: list = field(default_factory=list)
    elapsed_s: float = 0.0

    def all_tables(self) -> list:
        return [t for s in self.sections.values() for t in s.tables] + self.tail_tables

    def all_plots(self) -> list:
        return [p for s in self.sections.values() for p in s.plots] + self.general_plots

    def table(self, key: str):
        return next((t for t in self.all_tables() if t.key == key), None)


def parse_formats(text: str) -> tuple:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise MlxclinError(f"--format {text!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return chosen


def collect_rows(run_paths, baselines: str = "paper", baselines_dir=None) -> tuple:
    """(runs, rows): one measured row per run × effort, then the reference rows of the tasks present."""
    runs = load_runs(run_paths)
    measured = [row for run in runs for row in rows_from_run(run)]
    tasks = {r.task for r in measured}
    references = [r for r in baseline_rows(load_entries(baselines, baselines_dir), measured) if r.task in tasks]
    rows = measured + references
    assign_labels(rows)
    return runs, rows


def _task_section(task: str, rows: list) -> tuple:
    section = Section(tables.TASK_TITLES.get(task, task))
    if task == "judge":
        section.tables += [tables.judge_summary(rows), tables.judge_breakdown(rows, "specialty"),
                           tables.judge_breakdown(rows, "frequency")]
    else:
        section.tables += [tables.choice_summary(task, rows), tables.group_table(task, rows)]
    effort = tables.effort_table(task, rows)
    if effort is not None:
        section.tables.append(effort)
    pairs = []
    if sum(r.measured for r in rows) >= 2:
        pairs, notes = pairwise(rows)
        section.tables.append(tables.pairs_table(task, pairs, notes))
    return section, pairs


def build_report(run_paths, out_dir, baselines: str = "paper", formats=FORMATS, baselines_dir=None,
                 pool: JobPool = None) -> Report:
    """Write the report; `pool` draws the figures (default: a new JobPool, closed at the end)."""
    if pool is None:
        with JobPool() as own_pool:
            return build_report(run_paths, out_dir, baselines, formats, baselines_dir, own_pool)
    started = time.perf_counter()
    formats = parse_formats(formats) if isinstance(formats, str) else tuple(formats)
    runs, rows = collect_rows(run_paths, baselines, baselines_dir)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MlxclinError(f"--out {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)

    by_task = rows_by_task(rows)
    sections, all_pairs = {}, []
    for task, task_rows in by_task.items():
        sections[task], pairs = _task_section(task, task_rows)
        all_pairs += pairs
    warnings = [w for run in runs for w in consistency_warnings(run, [r for r in rows if r.run is run])]
    checks = published_checks(rows)
    tail = ([tables.checks_table(checks)] if checks else []) + [tables.runs_table(runs)]
    report = Report(title="mlxclin report", runs=runs, rows=rows, sections=sections, tail_tables=tail,
                    pairs=all_pairs, checks=checks, warnings=warnings,
                    subtitle=f"{len(runs)} run director{'y' if len(runs) == 1 else 'ies'} · tasks: "
                             f"{', '.join(by_task)} · baselines: {baselines or 'none'} · mlxclin {__version__} · "
                             f"{time.strftime('%Y-%m-%d %H:%M')}")

    # The figures are drawn by the pool while this process writes the per-sample pages and the CSV files.
    jobs = figure_jobs(by_task, out_dir / "plots") if "md" in formats or "html" in formats else []
    drawing = pool.submit([job for _, job in jobs])
    if "html" in formats:
        _write_sample_pages(report, out_dir)
    if "csv" in formats:
        report.files += write_csvs(report.all_tables(), out_dir / "tables")
    for (where, _), plot in zip(jobs, drawing.get()):
        (sections[where].plots if where else report.general_plots).append(plot)
    _write(report, out_dir, formats)
    report.elapsed_s = time.perf_counter() - started
    return report


def _write(report: Report, out_dir: Path, formats: tuple) -> None:
    if "md" in formats:
        from mlxclin.report.formats import report_markdown
        path = out_dir / "report.md"
        path.write_text(report_markdown(report), encoding="utf-8")
        report.files.append(path)
    if "html" in formats:
        from mlxclin.report.html import report_html
        path = out_dir / "report.html"
        path.write_text(report_html(report), encoding="utf-8")
        report.files.append(path)
    path = out_dir / "report.json"
    path.write_text(json.dumps(_report_json(report), indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                    encoding="utf-8")
    report.files.append(path)
    report.files += [p for plot in report.all_plots() for p in (plot.png, plot.svg) if p is not None]


def _write_sample_pages(report: Report, out_dir: Path) -> None:
    """samples/NN-<run>.html per run directory with samples, linked from report.html."""
    from mlxclin.report.samples_html import samples_page
    directory = out_dir / "samples"
    directory.mkdir(parents=True, exist_ok=True)
    for number, run in enumerate(report.runs, start=1):
        if not run.has_samples():
            continue
        run_rows = [r for r in report.rows if r.run is run]
        path = directory / f"{number:02d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', run.name)}.html"
        path.write_text(samples_page(run, run_rows), encoding="utf-8")
        report.files.append(path)
        # Keyed by task, labels and run: runs of different tasks share a label (the demo's one toy model), and a
        # key by label alone kept only the last run's page.
        title = tables.TASK_TITLES.get(run.task, run.task).split(" (")[0]
        report.sample_pages[f"{title}: {', '.join(r.label for r in run_rows)} ({number:02d} {run.name})"] = \
            f"samples/{path.name}"


def _report_json(report: Report) -> dict:
    return {
        "mlxclin_version": __version__,
        "runs": [{"path": str(r.path), "task": r.task, "model": r.model, "backend": r.backend} for r in report.runs],
        "rows": [{"label": r.label, "task": r.task, "model": r.model, "family": r.family, "effort": r.effort,
                  "kind": r.kind, "source": r.source, "metrics": r.metrics, "perf": r.perf} for r in report.rows],
        "pairs": [asdict(p) for p in report.pairs],
        "checks": [asdict(c) for c in report.checks],
        "warnings": report.warnings,
        "tables": {t.key: {"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes}
                   for t in report.all_tables()},
        "plots": {p.key: {"png": p.png and p.png.name, "svg": p.svg and p.svg.name, "note": p.note}
                  for p in report.all_plots()},
    }
