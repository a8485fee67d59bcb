"""`reproduce(data, out)`: replay every model of the released files, build the paper's tables, diff the published
cells, and write OUT/report.html (offline, no request), OUT/reproduce.json and OUT/tables/*.csv."""

import json
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from mlxclin import __version__
from mlxclin.data import resolve_data_file, sha256_of
from mlxclin.errors import MlxclinError
from mlxclin.protocol import DIFFERENCES, PAPER
from mlxclin.report.formats import write_csvs
from mlxclin.report.html import anchor, page, table_html
from mlxclin.report.tables import Table
from mlxclin.reproduce.diff import CELLS_FILE, by_table, check_cells, load_cells, match_line
from mlxclin.reproduce.models import FILES, replay_file
from mlxclin.reproduce.tables import task_tables

SECTION_TITLES = {("eurorad", ""): "Eurorad (LLM-as-a-Generalist)", ("ophtho", ""): "Ophthalmology (LLM-as-a-Specialist)",
                  ("judge", "diagnosis"): "Clinical judge: diagnosis", ("judge", "treatment"): "Clinical judge: treatment"}


@dataclass
class Reproduction:
    out_dir: Path
    results: list                      # ModelResult of every replayed (and live) column group
    checks: list                       # CellCheck per published cell
    sections: dict                     # title -> [Table]
    files: dict                        # data file -> {"path", "sha256", "groups", "skipped"}
    lines: list = field(default_factory=list)   # one match line per published table
    html: Path = None
    elapsed_s: float = 0.0

    @property
    def unexpected(self) -> list:
        """Cells whose match differs from what the extraction says (a reproducible cell that fails, or a known
        inconsistency that suddenly matches): what a faithful reproduction must never have."""
        return [c for c in self.checks if c.matches != c.expected_match]


def _replay_all(data, live: dict) -> tuple:
    results, items_by_file, files, sections_input = [], {}, {}, {}
    for (task, subset), name in FILES.items():
        path = resolve_data_file(name, data)
        items, found, skipped = replay_file(task, subset, path, name)
        items_by_file[name] = items
        files[name] = {"path": str(path), "sha256": sha256_of(path), "groups": {r.name: r.columns for r in found},
                       "skipped": skipped}
        sections_input[(task, subset)] = found + list(live.get((task, subset), []))
        results += found
    return results, items_by_file, files, sections_input


def diff_tables(checks: list) -> list:
    tables = []
    for table, table_checks in by_table(checks).items():
        rows = []
        for c in table_checks:
            cell = c.cell
            rows.append([str(cell["id"]), cell.get("model") or "", cell.get("subset") or "", cell.get("group") or "",
                         cell.get("effort") or "", cell["metric"], cell["printed"],
                         "n/a" if c.recomputed is None else f"{c.recomputed:.4f}", "yes" if c.matches else "NO",
                         "match" if c.expected_match else "known inconsistency", cell.get("source", ""),
                         cell.get("note", "")])
        tables.append(Table(f"published_{anchor(table)}", f"{table}: published vs recomputed",
                            ["Cell", "Model", "Subset", "Group", "Effort", "Metric", "Printed", "Recomputed",
                             "Match", "Expected", "Source", "Note"], rows))
    return tables


def summary_table(checks: list) -> Table:
    rows = []
    for table, table_checks in by_table(checks).items():
        differ = [c for c in table_checks if not c.matches]
        rows.append([table, str(len(table_checks)), str(len(table_checks) - len(differ)), str(len(differ)),
                     str(sum(not c.expected_match for c in differ)),
                     str(sum(c.matches != c.expected_match for c in table_checks))])
    return Table("published_summary", "Published cells, per table",
                 ["Table", "Cells", "Match", "Differ", "Known inconsistencies", "Unexpected"], rows)


def protocol_table() -> Table:
    return Table("protocol", "Where the paper protocol (used here) and the mlxclin protocol differ",
                 ["Rule", "paper", "mlxclin", "Why mlxclin differs"], [list(d) for d in DIFFERENCES])


def reproduce(data=None, out="reproduce", live: dict = None, cells_file: Path = CELLS_FILE) -> Reproduction:
    """Replay, tabulate, diff and write the report; `live` maps (task, subset) -> extra ModelResults to show."""
    started = time.perf_counter()
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise MlxclinError(f"--out {out_dir} exists and is not a directory")
    meta, cells = load_cells(cells_file)
    results, items_by_file, files, sections_input = _replay_all(data, live or {})
    checks = check_cells(cells, results, items_by_file)
    sections = {SECTION_TITLES[key]: task_tables(key[0], key[1], found) for key, found in sections_input.items()}
    live_results = [r for found in (live or {}).values() for r in found]
    repro = Reproduction(out_dir, results + live_results, checks, sections, files,
                         lines=[match_line(t, c) for t, c in by_table(checks).items()])
    out_dir.mkdir(parents=True, exist_ok=True)
    all_tables = [summary_table(checks), protocol_table()] + [t for ts in sections.values() for t in ts]
    all_tables += diff_tables(checks)
    write_csvs(all_tables, out_dir / "tables")
    _write_json(repro, meta, out_dir / "reproduce.json")
    repro.html = out_dir / "report.html"
    repro.html.write_text(_html(repro, meta, all_tables), encoding="utf-8")
    repro.elapsed_s = time.perf_counter() - started
    return repro


def _html(repro: Reproduction, meta: dict, all_tables: list) -> str:
    by_key = {t.key: t for t in all_tables}
    nav = " ".join(f'<a href="#{anchor(title)}">{escape(title)}</a>' for title in repro.sections)
    body = [f"<h1>{escape(meta['title'])}: reproduced</h1>",
            f"<p>Protocol: {PAPER} · published cells: {len(repro.checks)} · mlxclin {__version__} · "
            f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
            f'<nav>{nav} <a href="#published">Published cells</a> <a href="#data">Data</a></nav>',
            table_html(by_key["published_summary"]), table_html(by_key["protocol"])]
    for title, tables in repro.sections.items():
        body.append(f'<h2 id="{anchor(title)}">{escape(title)}</h2>')
        body += [table_html(t) for t in tables]
    body.append('<h2 id="published">Published cells, one by one</h2>')
    body += [table_html(t) for t in all_tables if t.key.startswith("published_") and t.key != "published_summary"]
    body.append('<h2 id="data">Data</h2><ul>')
    for name, info in repro.files.items():
        skipped = f"; skipped (not 3 runs): {', '.join(info['skipped'])}" if info["skipped"] else ""
        body.append(f"<li>{escape(name)}: {escape(info['path'])} (sha256 {info['sha256'][:12]}…), "
                    f"{len(info['groups'])} models: {escape(', '.join(info['groups']))}{escape(skipped)}</li>")
    body.append("</ul>")
    return page(f"{meta['title']}: reproduced", "\n".join(body))


def _write_json(repro: Reproduction, meta: dict, path: Path) -> None:
    document = {
        "mlxclin_version": __version__, "protocol": PAPER, "source": meta.get("source"), "files": repro.files,
        "models": [{"task": r.task, "subset": r.subset, "file": r.file, "name": r.name, "columns": r.columns,
                    "source": r.source, "metrics": r.metrics} for r in repro.results],
        "cells": [{**c.cell, "recomputed": c.recomputed, "matches": c.matches} for c in repro.checks],
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
