"""`mlxclin demo`: the whole pipeline on an embedded default, in a few minutes on a laptop CPU.

toy gpt-oss checkpoint -> `convert` (MXFP4) -> `generate` -> `eval` on a few items of every task -> `report`.
The toy model is random, so its accuracy is meaningless: the demo shows that every stage runs and what it
records (speed, memory, samples), not how good a model is. Data: the benchmark files when found (--data, or the
reference copy beside a checkout), else a handful of illustrative items bundled with mlxclin.
"""

import shlex
import shutil
from pathlib import Path

import click

from mlxclin.errors import MlxclinError
from mlxclin.paths import CONFIGS_DIR

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
FILES = ("eurorad_test.csv", "ophthalmology.csv", "judge_diagnosis.csv", "judge_treatment.csv")


def _data_dir(data, work: Path) -> tuple:
    """(folder holding the four files by their released names, description)."""
    candidates = [Path(data)] if data else [CONFIGS_DIR.parent.parent / "shared" / "data" / "clinical"]
    for c in candidates:
        if all((c / f).exists() for f in FILES):
            return c, f"benchmark data from {c}"
    if data:
        raise MlxclinError(f"--data {data} must hold {', '.join(FILES)}")
    folder = work / "sample-data"
    folder.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        stem = f.rsplit(".", 1)[0].replace("_test", "")
        shutil.copyfile(SAMPLES / f"{stem}_sample.csv", folder / f)
    return folder, "bundled ILLUSTRATIVE sample items (not benchmark data)"


def command_line(args) -> str:
    """The command as a shell line that can be pasted back (prompts and paths with spaces quoted)."""
    return " ".join(["mlxclin", *(shlex.quote(str(a)) for a in args)])


def _run(*args) -> None:
    from mlxclin.cli import main

    click.secho(f"\n$ {command_line(args)}", bold=True)
    code = main([str(a) for a in args])
    if code:
        raise MlxclinError(f"demo step `mlxclin {args[0]}` failed (exit {code})")


@click.command("demo")
@click.option("--out", "work", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="Working folder (reused: finished steps are skipped).")
@click.option("--data", default=None, help="Folder with the benchmark files (default: found automatically).")
@click.option("--limit", default=3, show_default=True, help="Items per task (per subset for judge).")
@click.option("--runs", default=2, show_default=True)
@click.option("--max-tokens", default=32, show_default=True)
def command(work, data, limit, runs, max_tokens):
    """Build a toy gpt-oss, convert it, and evaluate it on every task (accuracy meaningless, speed real)."""
    work.mkdir(parents=True, exist_ok=True)
    hf, mlx = work / "toy-gpt-oss-hf", work / "toy-gpt-oss-mlx"
    if not (hf / "config.json").exists():
        _run("toy-model", hf, "--force")
    if not (mlx / "config.json").exists():
        _run("convert", "--hf-path", hf, "--mlx-path", mlx, "--recipe", "mxfp4", "--force")
    _run("generate", "--model", mlx, "--prompt", "Name one cause of acute chest pain.", "--effort", "low",
         "--max-tokens", max_tokens)
    folder, what = _data_dir(data, work)
    click.secho(f"\ndata: {what}", bold=True)
    runs_dirs = []
    for task, data_arg in (("eurorad", folder / "eurorad_test.csv"), ("ophtho", folder / "ophthalmology.csv"),
                           ("judge", folder)):
        out = work / "runs" / task
        _run("eval", "--task", task, "--backend", "mlx", "--model", mlx, "--data", data_arg, "--limit", limit,
             "--runs", runs, "--effort", "low", "--max-tokens", max_tokens, "--batch-size", 1, "--out", out,
             "--quiet")
        runs_dirs.append(out)
    _run("report", *runs_dirs, "--out", work / "report", "--baselines", "none")
    click.secho(f"\ndemo done: runs in {work / 'runs'}, report in {work / 'report'}. The toy model is random: its "
                "accuracy is meaningless; the speed and memory columns are real measurements.", bold=True)
