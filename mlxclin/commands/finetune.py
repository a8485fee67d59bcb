"""`mlxclin finetune`: LoRA fine-tuning of gpt-oss on clinical cases.

    mlxclin finetune prepare --data ../shared/data/clinical/eurorad_train_messages.jsonl --model MODEL --out DATA
    mlxclin finetune --model MODEL --data DATA --out ADAPTERS [--config TOML] [--iters N | --epochs N] [--resume]
    mlxclin finetune leakage --data TRAIN_FILE [--test-data eurorad_test.csv]
    mlxclin finetune fuse --model MODEL --adapter-path ADAPTERS --out FUSED

Without a subcommand the group trains, so the training call reads like the other commands.
"""

import click

from mlxclin.backends.base import EFFORTS
from mlxclin.errors import MlxclinError

# CLI option -> TrainConfig field, for the overrides of the recipe file.
OVERRIDES = {"rank": "rank", "alpha": "alpha", "dropout": "dropout", "keys": "keys", "num_layers": "num_layers",
             "lr": "learning_rate", "weight_decay": "weight_decay", "optimizer": "optimizer", "schedule": "schedule",
             "warmup_fraction": "warmup_fraction", "batch_size": "batch_size", "grad_accum": "grad_accum",
             "epochs": "epochs", "iters": "iters", "max_seq_len": "max_seq_len",
             "grad_checkpoint": "grad_checkpoint", "seed": "seed", "steps_per_report": "steps_per_report",
             "steps_per_eval": "steps_per_eval", "val_batches": "val_batches", "save_every": "save_every",
             "keep_checkpoints": "keep_checkpoints"}


class TrainByDefault(click.Group):
    """A group whose own options train; `finetune prepare|leakage|fuse ...` run subcommands instead."""

    def parse_args(self, ctx, args):
        if not args:   # `mlxclin finetune` alone: show what it can do
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)


@click.group("finetune", cls=TrainByDefault, invoke_without_command=True)
@click.option("--model", "model_path", type=click.Path(file_okay=False), help="Converted MLX model folder.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="DATA_DIR written by `finetune prepare`.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Adapter folder (mlx-lm format).")
@click.option("--config", "config_file", default=None,
              help="Recipe TOML file or name under mlxclin/configs/finetune (default gpt-oss-20b-eurorad).")
@click.option("--iters", type=int, default=None, help="Optimizer steps (replaces --epochs).")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None, help="Examples per forward pass.")
@click.option("--grad-accum", type=int, default=None, help="Micro-batches per optimizer step.")
@click.option("--rank", type=int, default=None)
@click.option("--alpha", type=float, default=None, help="LoRA alpha; mlx-lm's scale = alpha / rank.")
@click.option("--dropout", type=float, default=None)
@click.option("--keys", default=None,
              help="Comma-separated module paths to adapt, e.g. self_attn.q_proj,mlp.experts.up_proj")
@click.option("--num-layers", type=int, default=None, help="Adapt the last N blocks (-1: all).")
@click.option("--no-expert-lora", is_flag=True, help="No adapters on the MoE experts (attention keys only).")
@click.option("--skip-memory-check", is_flag=True, help="Train even when the memory estimate exceeds the machine.")
@click.option("--lr", type=float, default=None, help="Peak learning rate.")
@click.option("--weight-decay", type=float, default=None)
@click.option("--optimizer", type=click.Choice(["adamw", "adam"]), default=None)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default=None)
@click.option("--warmup-fraction", type=float, default=None)
@click.option("--max-seq-len", type=int, default=None, help="Longer examples are skipped.")
@click.option("--grad-checkpoint/--no-grad-checkpoint", default=None)
@click.option("--seed", type=int, default=None)
@click.option("--steps-per-report", type=int, default=None)
@click.option("--steps-per-eval", type=int, default=None, help="Validation loss every N steps.")
@click.option("--val-batches", type=int, default=None, help="Validation micro-batches (-1: all).")
@click.option("--save-every", type=int, default=None, help="Checkpoint every N steps.")
@click.option("--keep-checkpoints", type=int, default=None)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --out (same recipe and data).")
@click.option("--stop-after-step", type=int, default=None,
              help="Stop after this step with a checkpoint, as if interrupted (train in sessions; --resume later).")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to train_log.jsonl).")
@click.option("--eval-after", is_flag=True, help="Evaluate the adapter on the Eurorad test set afterwards.")
@click.option("--eval-data", default=None, help="Eurorad test CSV for --eval-after (default: the released file).")
@click.option("--eval-limit", type=int, default=None, help="--eval-after on the first N cases only.")
@click.option("--eval-runs", type=int, default=1, show_default=True)
@click.option("--eval-temperature", type=float, default=None,
              help="--eval-after temperature (default: the model's recommended, as eval).")
@click.option("--eval-max-tokens", type=click.IntRange(min=1), default=None,
              help="--eval-after generation limit per answer (default: eval's, 4096).")
@click.option("--effort", type=click.Choice(EFFORTS), default=None,
              help="Reasoning effort for --eval-after (default: the one the data was prepared with).")
@click.pass_context
def command(ctx, model_path, data_dir, out_dir, config_file, resume, stop_after_step, no_progress, eval_after,
            eval_data, eval_limit, eval_runs, eval_temperature, eval_max_tokens, effort, no_expert_lora,
            skip_memory_check, **overrides):
    """Train LoRA adapters (attention and MoE experts) on prepared examples; or run a subcommand."""
    if ctx.invoked_subcommand is not None:
        if model_path or data_dir or out_dir:
            raise MlxclinError(f"training options go without a subcommand; `finetune {ctx.invoked_subcommand}` "
                               f"takes its own options after its name")
        return
    missing = [flag for flag, value in (("--model", model_path), ("--data", data_dir), ("--out", out_dir)) if not value]
    if missing:
        raise MlxclinError(f"finetune needs {', '.join(missing)} (or a subcommand: prepare, leakage, fuse)")
    from mlxclin.finetune.config import load_config
    from mlxclin.finetune.train import train

    values = {OVERRIDES[k]: v for k, v in overrides.items()}
    if overrides.get("iters") is not None and overrides.get("epochs") is not None:
        raise MlxclinError("pass --iters or --epochs, not both")
    config = load_config(config_file, values)
    if overrides.get("epochs") is not None:
        config.iters = None   # --epochs wins over an `iters` in the recipe file
    if no_expert_lora:
        from mlxclin.finetune.lora import module_kind

        config.keys = [k for k in config.keys if module_kind("." + k) != "experts"]
        config.validate()
    from mlxclin.distributed import world

    result = train(model_path, data_dir, out_dir, config, resume=resume, stop_after_step=stop_after_step,
                   echo=click.echo, progress=not no_progress, memory_check=not skip_memory_check)
    if not world().is_main:   # a data-parallel launch: rank 0 reports and evaluates
        return
    click.echo(f"adapters -> {result.out} (step {result.steps}; train loss "
               f"{_fmt(result.final_train_loss)}, validation loss {_fmt(result.final_val_loss)})")
    if eval_after and not result.stopped_early:
        from mlxclin.finetune.evaluation import evaluate_adapter

        evaluate_adapter(model_path, out_dir, data_dir, eval_data, eval_limit, eval_runs, effort, eval_temperature,
                         echo=click.echo, max_tokens=eval_max_tokens)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@command.command("prepare")
@click.option("--data", default=None, type=click.Path(),
              help="Training cases: messages jsonl or a CSV with Eurorad columns, or a folder holding "
                   "eurorad_train_messages.jsonl (default: the released file, downloaded once, sha256-checked).")
@click.option("--model", required=True, type=click.Path(file_okay=False), help="The gpt-oss model to train.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="DATA_DIR for the prepared examples.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N cases.")
@click.option("--effort", type=click.Choice(EFFORTS), default="medium", show_default=True,
              help="Reasoning effort in the system message (evaluate with the same one).")
@click.option("--valid-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/valid split.")
@click.option("--traces", type=click.Path(dir_okay=False), default=None,
              help="Teacher traces from `mlxclin traces` for the analysis channel.")
@click.option("--prompt-file", default=None, help="Prompt template instead of mlxclin/configs/prompts/eurorad.txt.")
@click.option("--max-seq-len", type=int, default=4096, show_default=True, help="Only reported here.")
@click.option("--test-data", default=None,
              help="Eurorad test CSV for the leakage check (default: eurorad_test.csv beside the training file, "
                   "else the released file).")
@click.option("--skip-leakage", is_flag=True, help="Do not run the leakage check.")
@click.option("--drop-leaks", is_flag=True, help="Drop training cases that nearly duplicate a test case.")
def prepare_command(data, model, out, limit, effort, valid_fraction, seed, traces, prompt_file, max_seq_len,
                    test_data, skip_leakage, drop_leaks):
    """Render training cases as Harmony token ids with a trained-token mask; split train/valid."""
    from mlxclin.finetune.prepare import format_summary, prepare

    result = prepare(data, model, out, effort=effort, valid_fraction=valid_fraction, seed=seed, limit=limit,
                     traces=traces, prompt_file=prompt_file, max_seq_len=max_seq_len, test_data=test_data,
                     leakage=not skip_leakage, drop_leaks=drop_leaks, echo=click.echo)
    click.echo(format_summary(result, max_seq_len))


@command.command("leakage")
@click.option("--data", default=None, type=click.Path(),
              help="Training cases (jsonl or CSV; default: the released eurorad_train_messages.jsonl).")
@click.option("--test-data", default=None,
              help="Eurorad test CSV (default: eurorad_test.csv beside the training file, else the released file).")
@click.option("--threshold", type=float, default=None, help="Near-duplicate similarity, 0-100 (default 80).")
@click.option("--show", type=int, default=10, show_default=True, help="List at most N pairs / shared golds.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write the report here.")
def leakage_command(data, test_data, threshold, show, json_out):
    """Near-duplicate cases and shared gold diagnoses between training cases and the test set."""
    import json

    from mlxclin.finetune.cases import load_cases
    from mlxclin.finetune.leakage import NEAR_DUPLICATE_THRESHOLD, check_leakage, format_report
    from mlxclin.finetune.prepare import leakage_test_file, training_file
    from mlxclin.tasks import get_task

    data = training_file(data)
    cases = load_cases(data)
    items = get_task("eurorad").load_items(leakage_test_file(test_data, data, click.echo))
    report = check_leakage(cases, items, NEAR_DUPLICATE_THRESHOLD if threshold is None else threshold)
    click.echo(format_report(report, cases, show))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2, ensure_ascii=False)


@command.command("fuse")
@click.option("--model", required=True, type=click.Path(file_okay=False), help="Base MLX model folder.")
@click.option("--adapter-path", required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the fused model.")
@click.option("--dequantize-experts", is_flag=True,
              help="Keep merged MoE experts dense instead of re-quantizing them to MXFP4: each merged weight is "
                   "W + scale*B*A computed in float32 and stored once in --fused-dtype (bfloat16: relative error "
                   "<= 2^-8 per weight, about 4x the size of MXFP4 experts; float32: exactly the float32 merge, "
                   "about 8x). Without it the merged experts are re-quantized to MXFP4, which can lose much of "
                   "the adapter's effect (the report says how much).")
@click.option("--fused-dtype", type=click.Choice(["bfloat16", "float32"]), default="bfloat16", show_default=True,
              help="Storage dtype of merged dense weights (attention, and experts with --dequantize-experts).")
@click.option("--force", is_flag=True, help="Overwrite --out.")
def fuse_command(model, adapter_path, out, dequantize_experts, fused_dtype, force):
    """Merge adapters into the weights; report, in float32, how far the fused model is from base + adapter."""
    from mlxclin.finetune.fuse import format_fuse_report, fuse

    report = fuse(model, adapter_path, out, dequantize=dequantize_experts, force=force, fused_dtype=fused_dtype)
    click.echo(format_fuse_report(report))
