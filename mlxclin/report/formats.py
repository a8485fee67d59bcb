"""Markdown and CSV renderings of report tables (HTML is in html.py)."""

import csv
import io
from pathlib import Path

FORMATS = ("md", "csv", "html")


def table_markdown(table) -> str:
    def cell(text) -> str:
        # A pipe would end the cell and a newline the row.
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = [f"### {table.title}", ""]
    if table.rows:
        lines.append("| " + " | ".join(cell(c) for c in table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    else:
        lines.append("(nothing to show)")
    lines += [""] + [f"- {note}" for note in table.notes] + ([""] if table.notes else [])
    return "\n".join(lines)


def table_csv(table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue()


def write_csvs(tables: list, directory: Path) -> list:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in tables:
        path = directory / f"{table.key}.csv"
        path.write_text(table_csv(table), encoding="utf-8")
        paths.append(path)
    return paths


def report_markdown(report, plots_dir_name: str = "plots") -> str:
    lines = [f"# {report.title}", "", report.subtitle, ""] + [f"**Warning:** {w}\n" for w in report.warnings]
    for task, section in report.sections.items():
        lines += [f"## {section.title}", ""]
        for table in section.tables:
            lines.append(table_markdown(table))
        for plot in section.plots:
            lines += _plot_markdown(plot, plots_dir_name)
    if report.general_plots:
        lines += ["## Speed and memory", ""]
        for plot in report.general_plots:
            lines += _plot_markdown(plot, plots_dir_name)
    for table in report.tail_tables:
        lines.append(table_markdown(table))
    if report.sample_pages:
        lines += ["## Per-sample outputs", ""]
        lines += [f"- [{label}]({path})" for label, path in report.sample_pages.items()] + [""]
    return "\n".join(lines)


def _plot_markdown(plot, plots_dir_name: str) -> list:
    if plot.png is None:
        return [f"*{plot.title}: {plot.note}*", ""]
    return [f"![{plot.title}]({plots_dir_name}/{plot.png.name})", ""] + ([f"*{plot.note}*", ""] if plot.note else [])
