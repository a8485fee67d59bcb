"""`mlxclin compare RUN_A RUN_B`: paired comparison of two runs of the same task, in the terminal.

    mlxclin compare runs/eurorad-gpt51 runs/eurorad-oss20b-high
"""

import click


@click.command("compare")
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option("--effort", default=None, help="Compare only this reasoning effort (runs that swept several).")
def command(run_a, run_b, effort):
    """Compare two run directories on the same items: McNemar (choice tasks), Wilcoxon and weighted kappa (judge)."""
    from mlxclin.report.compare import compare_text

    click.echo(compare_text(run_a, run_b, effort))
