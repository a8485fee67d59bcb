"""`mlxclin eval`: run a clinical task against a backend and write samples.jsonl + metrics.json.

Replay example (reproduces the paper's Eurorad GPT-5.1 row from the stored predictions):

    mlxclin eval --task eurorad --backend replay --data ../shared/data/clinical/eurorad_test.csv \\
        --replay-columns "gpt-5.1-1113-M1,gpt-5.1-1113-M2,gpt-5.1-1113-M3" --out runs/eurorad-gpt51
"""

import json
import os
import re
from pathlib import Path

import click

from mlxclin import __version__
from mlxclin.backends.base import EFFORTS
from mlxclin.data import resolve_data_file, sha256_of
from mlxclin.errors import MlxclinError
from mlxclin.evaluate import METRICS_FILE, SAMPLES_FILE, evaluate
from mlxclin.tasks import get_task

BACKENDS = ("mlx", "openai", "replay")
CONFIG_FILE = "config.json"


def replay_model_label(columns: list) -> str:
    """A model name from its run columns: the shared prefix without the run suffix ("gpt-5.1-1113-M1..3" ->
    "gpt-5.1-1113", "oss-20b (H) v1..3" -> "oss-20b (H)"); the joined names when they share nothing."""
    if len(columns) == 1:
        prefix = re.sub(r"[\s_.-]+[mMvV]?\d+(?:\.\d+)?$", "", columns[0])
    else:
        prefix = re.sub(r"(?:[\s_.-]+[mMvV])?[\s_.-]*$", "", os.path.commonprefix(columns))
    return prefix or "+".join(columns)


def _prompt_overrides(task, values: tuple, subsets: list) -> dict:
    """--prompt-file PATH (every selected subset) or SUBSET=PATH (one subset of the task)."""
    overrides = {}
    for value in values:
        subset, sep, path = value.partition("=")
        if sep and subset in task.subsets:
            if subset not in subsets:
                raise MlxclinError(f"--prompt-file {value}: subset {subset!r} is not being evaluated")
            overrides[subset] = path
        else:
            for s in subsets:
                overrides[s] = value
    return overrides


def _data_files(task, subsets: list, data) -> dict:
    if data is not None and len(subsets) > 1 and not Path(data).is_dir():
        names = " and ".join(task.data_file(s) for s in subsets)
        raise MlxclinError(f"--data for task {task.name} without --subset must be a folder holding {names}; "
                           f"or pass --subset with a single file")
    return {s: resolve_data_file(task.data_file(s), data) for s in subsets}


def _print_summary(metrics: dict, run_dir: Path) -> None:
    echo = click.echo
    head = f"{metrics['task']} · {metrics['model']} · {metrics['runs']} run(s)"
    if "accuracy" in metrics:
        acc = metrics["accuracy"]
        echo(f"{head} · {metrics['n_items']} items")
        echo(f"  accuracy (majority of runs) {acc['pct']:.1f}% (95% CI {acc['ci_low']:.1f}-{acc['ci_high']:.1f}), "
             f"{acc['correct']}/{acc['n']}")
        runs = ", ".join("-" if p is None else f"{p:.1f}" for p in metrics["per_run_accuracy"])
        kappa = metrics["fleiss_kappa"]
        echo(f"  per run {runs} · pass@{metrics['runs']} {metrics['pass_at_k']['pct']:.1f}% · Fleiss kappa "
             f"{'n/a' if kappa is None else f'{kappa:.3f}'}")
        echo("  match types " + ", ".join(f"{k} {v}" for k, v in metrics["match_types"].items()))
        for group, g in metrics["groups"].items():
            echo(f"    {group:<45} {g['pct']:5.1f}%  {g['correct']}/{g['n']}")
    else:
        echo(head)
        for subset, m in metrics["subsets"].items():
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            echo(f"  {subset}: n {m['n']} · median error {fmt(m['median_error'])} (IQR {fmt(m['iqr_low'])} to "
                 f"{fmt(m['iqr_high'])}) · MAE {fmt(m['mae'])} · Spearman {fmt(m['spearman'])} · "
                 f"Pearson {fmt(m['pearson'])} · ICC(3,k) {fmt(m['icc3k'])} · unparsed runs {m['unparsed_runs']}")
    echo(f"wrote {run_dir / SAMPLES_FILE} and {run_dir / METRICS_FILE}")


@click.command("eval")
@click.option("--task", "task_name", required=True,
              help="eurorad (generalist), ophtho (specialist), judge (clinical-judge).")
@click.option("--data", type=click.Path(), default=None,
              help="Data file (CSV/JSONL), or a folder holding the task's files by their released names "
                   "(judge without --subset needs the folder). Default: download the released file (cached).")
@click.option("--backend", type=click.Choice(BACKENDS), default="mlx", show_default=True)
@click.option("--model", default=None, help="Model label written to metrics.json (replay: derived from the columns).")
@click.option("--runs", type=int, default=None, help="Runs per item (default 3; replay: one per replay column).")
@click.option("--subset", default=None, help="Task subset, e.g. diagnosis or treatment for judge (default: all).")
@click.option("--effort", type=click.Choice(EFFORTS), default=None,
              help="Reasoning effort (default medium; replay: only recorded, 'unknown' if not given).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory for samples.jsonl and metrics.json (default runs/<task>-<model>).")
@click.option("--replay-columns", default=None, help="Replay: comma-separated columns of the data file, one per run.")
@click.option("--map-options", is_flag=True,
              help="Replay: map stored answers onto the options first (by default they are scored as stored).")
@click.option("--prompt-file", "prompt_files", multiple=True,
              help="Prompt template replacing configs/prompts/<task>.txt; SUBSET=PATH for one subset. Repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N items (per subset).")
@click.option("--overwrite", is_flag=True, help="Replace the results already in --out.")
def command(task_name, data, backend, model, runs, subset, effort, out_dir, replay_columns, map_options,
            prompt_files, limit, overwrite):
    """Evaluate a model on a clinical task; write samples.jsonl and metrics.json."""
    task = get_task(task_name, map_options=map_options)
    if backend != "replay":
        # The live backends (mlx, openai) plug in here with the run engine; replay needs no model.
        raise MlxclinError(f"backend {backend} not available yet (use --backend replay with --replay-columns)")
    if subset is not None and subset not in task.subsets:
        raise MlxclinError(f"task {task.name} has no subset {subset!r}"
                           + (f"; subsets: {', '.join(task.subsets)}" if task.subsets else ""))
    subsets = [subset] if subset else (list(task.subsets) or [""])
    columns = _replay_columns(replay_columns, runs)

    files = _data_files(task, subsets, data)
    overrides = _prompt_overrides(task, prompt_files, subsets)
    prompts = {s: task.load_prompt(s, overrides.get(s)) for s in subsets}
    items_by_subset = {s: task.load_items(files[s], s)[:limit] for s in subsets}
    items = [item for s in subsets for item in items_by_subset[s]]

    backend_impl = _replay_backend(items_by_subset, files, columns)
    runs = len(columns)
    model = model or replay_model_label(columns)
    effort = effort or "unknown"   # a stored answer's effort is whatever the column's model used

    run_dir = Path(out_dir) if out_dir else Path("runs") / re.sub(r"[^\w.-]+", "_", f"{task.name}-{model}")
    if (run_dir / SAMPLES_FILE).exists() and not overwrite:
        raise MlxclinError(f"{run_dir} already holds {SAMPLES_FILE}; choose another --out or pass --overwrite")
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"mlxclin_version": __version__, "task": task.name, "subsets": subsets, "backend": backend,
              "model": model, "runs": runs, "effort": effort, "limit": limit, "replay_columns": columns,
              "map_options": map_options,
              "data": {s: {"path": str(p), "sha256": sha256_of(p)} for s, p in files.items()},
              "prompts": {s: p.source for s, p in prompts.items()}}
    (run_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    metrics = evaluate(task, items, backend_impl, prompts, runs, effort, model, run_dir)
    _print_summary(metrics, run_dir)


def _replay_columns(replay_columns, runs) -> list:
    from mlxclin.backends.replay import parse_column_list
    if replay_columns is None:
        raise MlxclinError("--backend replay needs --replay-columns COL1,COL2,... (one data column per run)")
    columns = parse_column_list(replay_columns)
    if runs is not None and runs != len(columns):
        raise MlxclinError(f"--runs {runs} does not match the {len(columns)} --replay-columns (one column per run)")
    return columns


def _replay_backend(items_by_subset: dict, files: dict, columns: list):
    """One ReplayBackend over every subset's items; a missing column is reported with its file."""
    from mlxclin.backends.replay import ReplayBackend
    outputs = {}
    for subset, items in items_by_subset.items():
        outputs.update(ReplayBackend.from_items(items, columns, source=str(files[subset])).outputs)
    return ReplayBackend(outputs, columns)
