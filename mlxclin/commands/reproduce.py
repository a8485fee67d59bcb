"""`mlxclin reproduce`: the paper's tables from the released predictions, diffed cell by cell against the
published values, in one report; with --live, a local model's rows beside them.

    mlxclin reproduce                                     # the pinned public files (downloaded once, verified)
    mlxclin reproduce --data ../shared/data/clinical --out R
    mlxclin reproduce --live --model models/gpt-oss-20b --tasks eurorad --efforts low --limit 20 [--dry-run]
"""

import click

from mlxclin.errors import MlxclinError

EFFORT_NAMES = {"l": "low", "m": "medium", "h": "high", "low": "low", "medium": "medium", "high": "high"}


def _list(text: str, allowed: dict, flag: str) -> list:
    values = [v.strip().lower() for v in (text or "").split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise MlxclinError(f"{flag} {text!r}: choose from {', '.join(dict.fromkeys(allowed.values()))} "
                           f"(comma-separated)")
    return list(dict.fromkeys(allowed[v] for v in values))


@click.command("reproduce")
@click.option("--data", type=click.Path(), default=None,
              help="Folder with eurorad_test.csv, ophthalmology.csv, judge_diagnosis.csv, judge_treatment.csv "
                   "(default: the released files, downloaded once and checked against their sha256).")
@click.option("--out", type=click.Path(), default="reproduce", show_default=True, help="Report directory.")
@click.option("--live", is_flag=True, help="Also run the paper's zero-shot protocol on a local MLX model (--model).")
@click.option("--model", default=None, help="With --live: an MLX model folder (e.g. the output of mlxclin convert).")
@click.option("--tasks", default="eurorad,ophtho,judge", show_default=True, help="With --live: tasks to run.")
@click.option("--efforts", default="low,medium,high", show_default=True, help="With --live: reasoning efforts (or L,M,H).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="With --live: first N items of each file.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=4096, show_default=True,
              help="With --live: completion tokens per request (reasoning included).")
@click.option("--dry-run", is_flag=True, help="With --live: print the plan (requests, estimated tokens) and stop.")
def command(data, out, live, model, tasks, efforts, limit, max_tokens, dry_run):
    """Replay every model in the released files under the paper protocol and diff every published cell."""
    from pathlib import Path

    from mlxclin.reproduce.run import reproduce

    live_results = None
    if live or model or dry_run:
        if not (live and model):
            raise MlxclinError("--model, --dry-run, --tasks, --efforts and --limit belong to --live: "
                               "pass --live --model MODEL_DIR")
        from mlxclin.reproduce import live as live_run
        planned = live_run.plan(model, data, _list(tasks, {t: t for t in live_run.TASKS}, "--tasks"),
                                _list(efforts, EFFORT_NAMES, "--efforts"), limit, max_tokens, Path(out))
        for line in live_run.plan_lines(planned):
            click.echo(line)
        if dry_run:
            return
        live_results = live_run.run_live(planned, echo=lambda m: click.echo(m, err=True))

    result = reproduce(data=data, out=out, live=live_results)
    for line in result.lines:
        click.echo(line)
    differ = [c for c in result.checks if not c.matches]
    known = sum(not c.expected_match for c in differ)
    click.echo(f"{len(result.checks)} published cells: {len(result.checks) - len(differ)} match, {len(differ)} differ "
               f"({known} known inconsistencies of the paper, {len(result.unexpected)} unexpected)")
    if live_results:
        rows = sorted({r.name for found in live_results.values() for r in found})
        click.echo(f"live rows beside the published models: {', '.join(rows)}")
    click.echo(f"report: {result.html} ({result.elapsed_s:.1f} s)")
