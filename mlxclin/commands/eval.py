"""`mlxclin eval`: run a clinical task against a backend and write samples.jsonl + metrics.json.

Replay example (reproduces the paper's Eurorad GPT-5.1 row from the stored predictions):

    mlxclin eval --task eurorad --backend replay --data ../shared/data/clinical/eurorad_test.csv \\
        --replay-columns "gpt-5.1-1113-M1,gpt-5.1-1113-M2,gpt-5.1-1113-M3" --out runs/eurorad-gpt51
"""

import os
import re
from pathlib import Path

import click

from mlxclin import __version__
from mlxclin.backends.base import EFFORTS
from mlxclin.data import resolve_data_file, sha256_of
from mlxclin.errors import MlxclinError
from mlxclin.engine import EvalPlan, run_eval, write_results
from mlxclin.perf import summary_table
from mlxclin.runs import RunDir
from mlxclin.tasks import get_task

BACKENDS = ("mlx", "openai", "replay")


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


IDENTITY = ("task", "subsets", "backend", "model", "model_fingerprint", "adapter_path", "adapter_fingerprint",
            "base_url", "efforts", "runs", "seed", "temperature", "top_p", "max_tokens", "limit", "ids", "data",
            "prompts", "replay_columns", "map_options", "retry_unparsed")
# gpt-oss's recommended sampling (temperature 1.0, top_p 1.0); max_tokens leaves room for high-effort reasoning
DEFAULTS = {"runs": 3, "temperature": 1.0, "top_p": 1.0, "max_tokens": 4096, "seed": 0, "batch_size": 1,
            "concurrency": 4}


def _apply_config_file(ctx, path) -> None:
    """--config FILE: TOML with the same keys as the flags (dashes or underscores); flags given explicitly win."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MlxclinError(f"--config {path}: {e}") from e
    params = {p.name: p for p in ctx.command.params}
    for key, value in values.items():
        name = {"task": "task_name", "out": "out_dir", "prompt_file": "prompt_files"}.get(
            key.replace("-", "_"), key.replace("-", "_"))
        if name not in params:
            raise MlxclinError(f"--config {path}: unknown key {key!r}")
        if ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None):
            if params[name].multiple and not isinstance(value, list):
                value = [value]
            ctx.params[name] = tuple(value) if params[name].multiple else value


@click.command("eval")
@click.option("--task", "task_name", default=None,
              help="eurorad (generalist), ophtho (specialist), judge (clinical-judge).")
@click.option("--data", type=click.Path(), default=None,
              help="Data file (CSV/JSONL), or a folder holding the task's files by their released names "
                   "(judge without --subset needs the folder). Default: download the released file (cached).")
@click.option("--backend", type=click.Choice(BACKENDS), default="mlx", show_default=True)
@click.option("--model", default=None,
              help="mlx: model folder; openai: model name at the endpoint; replay: label (default from the columns).")
@click.option("--adapter-path", type=click.Path(), default=None, help="mlx: LoRA adapter folder (mlx-lm format).")
@click.option("--base-url", default=None, help="openai: endpoint, e.g. http://127.0.0.1:8080/v1 (mlx_lm.server).")
@click.option("--api-model", default=None, help="openai: model name sent to the endpoint (default: --model).")
@click.option("--api", type=click.Choice(["chat", "responses"]), default=None,
              help="openai: API style (default: responses for OpenAI cloud, chat with --base-url).")
@click.option("--api-key-env", default=None, help="openai: NAME of the environment variable holding the API key.")
@click.option("--allow-remote", is_flag=True, help="openai: allow sending data to a non-loopback endpoint.")
@click.option("--runs", type=int, default=None, help="Runs per item (default 3; replay: one per replay column).")
@click.option("--seed", type=int, default=None, help="Base seed; run r uses seed + r (default 0).")
@click.option("--subset", default=None, help="Task subset, e.g. diagnosis or treatment for judge (default: all).")
@click.option("--effort", "efforts", type=click.Choice(EFFORTS), multiple=True,
              help="Reasoning effort; repeat to sweep efforts in one run dir (default medium).")
@click.option("--temperature", type=float, default=None, help="Sampling temperature (default 1.0, gpt-oss's).")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling (default 1.0).")
@click.option("--max-tokens", type=int, default=None, help="Max generated tokens per request (default 4096).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="mlx: requests batched together.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="openai: requests in flight.")
@click.option("--retry-unparsed", type=click.IntRange(min=0), default=0,
              help="Re-sample an item whose answer cannot be parsed, up to N times (counted in samples).")
@click.option("--ids", default=None, help="Only these item ids (comma-separated).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<task>-<model>).")
@click.option("--replay-columns", default=None, help="Replay: comma-separated columns of the data file, one per run.")
@click.option("--map-options", is_flag=True,
              help="Replay: map stored answers onto the options first (by default they are scored as stored).")
@click.option("--prompt-file", "prompt_files", multiple=True,
              help="Prompt template replacing configs/prompts/<task>.txt; SUBSET=PATH for one subset. Repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N items (per subset).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with the same keys as these options; flags on the command line win.")
@click.option("--overwrite", is_flag=True, help="Discard the results already in --out and start over.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def command(ctx, **opts):
    """Evaluate a model on a clinical task: samples.jsonl, metrics.json, perf.json; resumable."""
    if opts["config_file"]:
        _apply_config_file(ctx, opts["config_file"])
        opts = dict(ctx.params)
    o = {k: (DEFAULTS[k] if v is None and k in DEFAULTS else v) for k, v in opts.items()}
    if not o["task_name"]:
        raise MlxclinError("--task is required (eurorad, ophtho or judge)")
    task = get_task(o["task_name"], map_options=o["map_options"])
    backend = o["backend"]
    if o["subset"] is not None and o["subset"] not in task.subsets:
        raise MlxclinError(f"task {task.name} has no subset {o['subset']!r}"
                           + (f"; subsets: {', '.join(task.subsets)}" if task.subsets else ""))
    subsets = [o["subset"]] if o["subset"] else (list(task.subsets) or [""])
    if backend == "replay":
        columns = _replay_columns(o["replay_columns"], opts["runs"])  # checked before any data is read
    elif backend == "mlx" and not o["model"]:
        raise MlxclinError("--backend mlx needs --model MODEL_DIR (e.g. the output of mlxclin convert)")
    files = _data_files(task, subsets, o["data"])
    overrides = _prompt_overrides(task, o["prompt_files"], subsets)
    prompts = {s: task.load_prompt(s, overrides.get(s)) for s in subsets}
    items_by_subset = {s: _select(task.load_items(files[s], s), o["ids"], o["limit"]) for s in subsets}
    items = [item for s in subsets for item in items_by_subset[s]]
    if not items:
        raise MlxclinError("no items selected (check --ids / --limit)")
    efforts = list(dict.fromkeys(o["efforts"])) or ["medium"]

    config = {"mlxclin_version": __version__, "task": task.name, "subsets": subsets, "backend": backend,
              "efforts": efforts, "seed": o["seed"], "temperature": o["temperature"], "top_p": o["top_p"],
              "max_tokens": o["max_tokens"], "limit": o["limit"], "ids": o["ids"], "map_options": o["map_options"],
              "retry_unparsed": o["retry_unparsed"], "batch_size": o["batch_size"],
              "concurrency": o["concurrency"],
              "data": {s: {"path": str(p), "sha256": sha256_of(p)} for s, p in files.items()},
              "prompts": {s: {"source": p.source, "sha256": _sha(p.system + p.user)} for s, p in prompts.items()}}
    price = None
    if backend == "replay":
        impl, runs = _replay_backend(items_by_subset, files, columns), len(columns)
        model = o["model"] or replay_model_label(columns)
        config.update(replay_columns=columns, efforts=list(o["efforts"]) or ["unknown"])
        efforts = config["efforts"]
        chunk = max(1, len(items) * runs)
    else:
        runs = o["runs"]
        impl, model, chunk, price = _live_backend(o, config)
        if getattr(impl, "family", None) is not None:  # issue 14 hook: Qwen3.5 / Gemma 4 thinking + sampling
            from mlxclin.models.families import study_settings

            config["model_family"] = {e: study_settings(impl.family, e) for e in efforts}
    config.update(model=model, runs=runs)
    run_dir = RunDir(Path(o["out_dir"]) if o["out_dir"]
                     else Path("runs") / re.sub(r"[^\w.-]+", "_", f"{task.name}-{Path(model).name}"))
    from mlxclin.device import device_info
    config["device"] = device_info()
    resumed = run_dir.prepare(config, IDENTITY, o["overwrite"])
    if resumed:
        click.echo(f"resuming {run_dir.path}", err=True)
    plan = EvalPlan(efforts=efforts, runs=runs, seed=o["seed"], chunk=chunk, retry_unparsed=o["retry_unparsed"],
                    model=model, price=price,
                    sampling={"temperature": o["temperature"], "top_p": o["top_p"], "max_tokens": o["max_tokens"]})
    try:
        metrics, by_effort = run_eval(task, items, impl, prompts, plan, run_dir, progress=not o["quiet"])
    finally:
        impl.close()
    header = {"backend": backend, "model": model, "model_size_bytes": config.get("model_size_bytes"),
              "device": config["device"]}
    perf = write_results(run_dir, metrics, by_effort, len(items), plan, header)
    for effort, m in metrics.items():
        if len(metrics) > 1:
            click.echo(f"--- effort {effort}")
        _print_summary(m, run_dir.path)
    if backend != "replay":
        click.echo(summary_table(metrics, perf))
    click.echo(f"wrote {run_dir.file('samples.jsonl')}, metrics.json and perf.json")


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _select(items: list, ids, limit) -> list:
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        known = {item.id for item in items}
        unknown = [i for i in wanted if i not in known]
        if len(unknown) == len(wanted):
            raise MlxclinError(f"--ids: none of {', '.join(unknown[:3])} are item ids of this data")
        items = [item for item in items if item.id in set(wanted)]
    return items[:limit] if limit else items


def _live_backend(o: dict, config: dict):
    """(backend, model label, chunk size, price) for --backend mlx|openai; fills the config's model fields."""
    from mlxclin.runs import model_fingerprint

    if o["backend"] == "mlx":
        path = Path(o["model"])
        if not (path / "config.json").exists():
            raise MlxclinError(f"{path} is not a model folder (no config.json); convert one with mlxclin convert")
        from mlxclin.backends.mlx import MLXBackend
        from mlxclin.models.checkpoint import dir_size

        config.update(model_path=str(path.resolve()), model_fingerprint=model_fingerprint(path),
                      model_size_bytes=dir_size(path), adapter_path=o["adapter_path"],
                      adapter_fingerprint=model_fingerprint(o["adapter_path"]) if o["adapter_path"] else None)
        return MLXBackend(path, adapter_path=o["adapter_path"], batch_size=o["batch_size"]), str(path), \
            o["batch_size"], None
    from mlxclin.backends.openai_backend import OpenAIBackend

    api_model = o["api_model"] or o["model"]
    if not api_model:
        raise MlxclinError("--backend openai needs --model (or --api-model): the model name at the endpoint")
    impl = OpenAIBackend(api_model, base_url=o["base_url"], api=o["api"], api_key_env=o["api_key_env"],
                         allow_remote=o["allow_remote"], concurrency=o["concurrency"])
    config.update(base_url=impl.base_url, api=impl.api, api_key_env=o["api_key_env"], model_fingerprint=None)
    return impl, api_model, o["concurrency"], _price(api_model)


def _price(model: str):
    """USD per million tokens from configs/prices.toml, if the model is listed."""
    from mlxclin.paths import config_file

    path = config_file("prices.toml")
    if not path.exists():
        return None
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    prices = tomllib.loads(path.read_text(encoding="utf-8"))
    return prices.get(model)


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
