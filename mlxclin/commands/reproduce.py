"""`mlxclin reproduce`: the paper's tables from the released predictions, diffed cell by cell against the
published values, in one report.

    mlxclin reproduce                                     # the pinned public files (downloaded once, verified)
    mlxclin reproduce --data ../shared/data/clinical --out R
"""

import click


@click.command("reproduce")
@click.option("--data", type=click.Path(), default=None,
              help="Folder with eurorad_test.csv, ophthalmology.csv, judge_diagnosis.csv, judge_treatment.csv "
                   "(default: the released files, downloaded once and checked against their sha256).")
@click.option("--out", type=click.Path(), default="reproduce", show_default=True, help="Report directory.")
def command(data, out):
    """Replay every model in the released files under the paper protocol and diff every published cell."""
    from mlxclin.reproduce.run import reproduce

    result = reproduce(data=data, out=out)
    for line in result.lines:
        click.echo(line)
    differ = [c for c in result.checks if not c.matches]
    known = sum(not c.expected_match for c in differ)
    unexpected = len(result.unexpected)
    click.echo(f"{len(result.checks)} published cells: {len(result.checks) - len(differ)} match, {len(differ)} differ "
               f"({known} known inconsistencies of the paper, {unexpected} unexpected)")
    click.echo(f"report: {result.html} ({result.elapsed_s:.1f} s)")
