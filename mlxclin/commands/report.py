"""`mlxclin report RUN_DIR... --out REPORT_DIR`: tables, plots and a self-contained HTML page from run directories.

    mlxclin report runs/eurorad-gpt51 runs/eurorad-oss20b-high runs/judge-gpt51 --out reports/main
"""

import time

import click

from mlxclin.report.formats import FORMATS


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Report directory (report.md, report.html, report.json, tables/, plots/, samples/).")
@click.option("--baselines", default="paper", show_default=True,
              help="Reference rows: a set in mlxclin/configs/baselines/ (paper = the paper's published numbers and replays "
                   "of its released predictions), a baselines file, or none.")
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True,
              help="Comma-separated outputs: md, csv, html (report.json is always written).")
def command(run_dirs, out_dir, baselines, formats):
    """Write paper-style tables, speed/memory columns, paired tests and plots for RUN_DIRs."""
    started = time.perf_counter()
    from mlxclin.report.jobs import JobPool

    # Workers first: they load matplotlib while this process loads scipy and statsmodels (see report/jobs.py).
    with JobPool() as pool:
        from mlxclin.report.build import build_report, parse_formats
        report = build_report(run_dirs, out_dir, baselines, parse_formats(formats), pool=pool)
    for warning in report.warnings:
        click.echo(f"mlxclin: warning: {warning}", err=True)
    tasks = ", ".join(report.sections)
    click.echo(f"report on {len(report.runs)} run dir(s) ({tasks}), {len(report.rows)} rows, in "
               f"{time.perf_counter() - started:.1f} s -> {out_dir}")
    if report.checks:
        agree = sum(c.agrees for c in report.checks)
        click.echo(f"  published values reproduced: {agree}/{len(report.checks)}")
        for c in report.checks:
            if not c.agrees:
                click.echo(f"    differs: {c.published} {c.metric} published {c.published_value}, "
                           f"measured {c.measured_value} ({c.measured})")
    significant = [p for p in report.pairs if p.significant]
    if report.pairs:
        click.echo(f"  paired tests: {len(report.pairs)}, significant after Holm: {len(significant)}")
    for plot in report.all_plots():
        if plot.png is None:
            click.echo(f"  {plot.title}: {plot.note}")
    for name in ("report.html", "report.md"):
        path = next((p for p in report.files if p.name == name), None)
        if path:
            click.echo(f"  {path}")
