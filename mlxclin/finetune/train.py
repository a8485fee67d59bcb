"""LoRA training on prepared Harmony examples, with mlx-lm's tuner pieces under a resumable loop.

mlx-lm provides the LoRA layers, gradient checkpointing and the adapter format; the loop is ours because mlx-lm's
trainer cannot resume optimizer state or data order, and computes logits over the full vocabulary at every
position. Here the model trunk runs to hidden states, the trained (assistant) positions are gathered, and the LM
head is applied there only: on gpt-oss (201,088-token vocabulary) full float32 logits of a 4k-token example alone
would take 3.3 GB.

One step = one optimizer update over batch_size x grad_accum examples; the loss is the mean cross-entropy over
every trained token of the step (gradients of per-micro-batch sums, divided once by the step's token count).
Checkpoints hold adapters, optimizer state and the step; the data order and dropout noise are functions of
(seed, step), so `--resume` continues exactly where an uninterrupted run would be.

OUT holds adapters.safetensors + adapter_config.json (mlx-lm format, updated at every checkpoint),
checkpoints/step-NNNNNNN/, train_log.jsonl, param_report.json and run.json.
"""

import contextlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from mlxclin.data import read_json_object
from mlxclin.errors import MlxclinError
from mlxclin.finetune.batches import StepOrder, file_digest, load_split, micro_batches, to_arrays
from mlxclin.finetune.config import TrainConfig
from mlxclin.finetune.lora import adapter_config, apply_lora, parameter_report, save_adapters

LOG_FILE = "train_log.jsonl"
RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"
# Settings that do not change the trained weights may differ when resuming.
RESUMABLE_CHANGES = {"steps_per_report", "steps_per_eval", "val_batches", "save_every", "keep_checkpoints"}


@dataclass
class TrainResult:
    out: Path
    steps: int
    final_train_loss: Optional[float]
    final_val_loss: Optional[float]
    report: dict
    stopped_early: bool = False


def lm_head(model):
    from mlxclin.models.families import output_head  # issue 14: Qwen3.5 / Gemma 4 wrap their text model

    head = output_head(model)
    if head is not None:
        return head
    return model.lm_head if hasattr(model, "lm_head") else model.model.embed_tokens.as_linear


def token_loss_sum(model, inputs, positions, targets):
    """Summed cross-entropy of the trained tokens; logits only at their positions (never [B, L, vocab])."""
    import mlx.core as mx
    import mlx.nn as nn

    hidden = getattr(model, "language_model", model).model(inputs)  # issue 14: Qwen3.5 / Gemma 4 text model
    hidden = hidden.reshape(-1, hidden.shape[-1])[positions]
    logits = lm_head(model)(hidden).astype(mx.float32)
    return nn.losses.cross_entropy(logits, targets, reduction="sum")


def learning_rate_schedule(config: TrainConfig, total_steps: int):
    """Linear warmup over warmup_fraction of the steps (step 0 already gets lr / warmup), then cosine to 0."""
    import mlx.core as mx
    import mlx.optimizers as optim

    lr = config.learning_rate
    warmup = int(round(config.warmup_fraction * total_steps))
    main = (optim.cosine_decay(lr, max(total_steps - warmup, 1), 0.0) if config.schedule == "cosine"
            else (lambda step: mx.array(lr, dtype=mx.float32)))   # optimizers keep the rate as an array
    if warmup < 2:
        return main
    return optim.join_schedules([optim.linear_schedule(lr / warmup, lr, warmup - 1), main], [warmup])


def make_optimizer(config: TrainConfig, total_steps: int):
    import mlx.optimizers as optim

    schedule = learning_rate_schedule(config, total_steps)
    if config.optimizer == "adamw":
        return optim.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    return optim.Adam(learning_rate=schedule)


@contextlib.contextmanager
def gradient_checkpointing(model, enabled: bool):
    """mlx-lm's grad_checkpoint patches the block class's __call__; undo it afterwards so later inference in this
    process (e.g. --eval-after) runs the plain forward pass."""
    if not enabled:
        yield
        return
    from mlx_lm.tuner.trainer import grad_checkpoint

    cls = type(model.layers[0])
    original = cls.__call__
    grad_checkpoint(model.layers[0])
    try:
        yield
    finally:
        cls.__call__ = original


def _checkpoint_dirs(out: Path) -> list:
    root = out / CHECKPOINTS
    return sorted(p for p in root.glob("step-*") if (p / "state.json").is_file()) if root.is_dir() else []


def save_checkpoint(out: Path, model, optimizer, step: int, state: dict, keep: int) -> Path:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    final = out / CHECKPOINTS / f"step-{step:07d}"
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(tmp / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # a checkpoint is complete or absent, never half-written
    for old in _checkpoint_dirs(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model, optimizer) -> dict:
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    model.load_weights(list(mx.load(str(path / "adapters.safetensors")).items()), strict=False)
    optimizer.init(model.trainable_parameters())
    optimizer.state = tree_unflatten(list(mx.load(str(path / "optimizer.safetensors")).items()))
    return json.loads((path / "state.json").read_text())


def validation_loss(model, examples: list, config: TrainConfig) -> Optional[float]:
    import mlx.core as mx

    if not examples:
        return None
    if config.val_batches > 0:   # the first examples in file order (a seeded sample), not the shortest ones
        examples = examples[:config.val_batches * config.batch_size]
    batches = micro_batches(examples, config.batch_size)
    model.eval()
    total, tokens = 0.0, 0
    for batch in batches:
        inputs, positions, targets, n = to_arrays(batch)
        loss = token_loss_sum(model, inputs, positions, targets)
        mx.eval(loss)
        total, tokens = total + loss.item(), tokens + n
    model.train()
    return total / tokens


def _check_resume(out: Path, config: TrainConfig, data_digest: str) -> Path:
    checkpoints = _checkpoint_dirs(out)
    if not checkpoints:
        raise MlxclinError(f"--resume: {out} has no checkpoint to resume from")
    state = read_json_object(checkpoints[-1] / "state.json", "checkpoint state")
    if state.get("train_digest") != data_digest:
        raise MlxclinError(f"--resume: the training data differs from the one {out} was trained on")
    before, now = state.get("config", {}), config.to_dict()
    changed = [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in now
               if k not in RESUMABLE_CHANGES and before.get(k) != now[k]]
    if changed:
        raise MlxclinError(f"--resume with a different recipe ({'; '.join(changed)}); the resumed run would not "
                           f"match an uninterrupted one. Use the original settings or a new --out")
    return checkpoints[-1]


def _append_log(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int, echo=print) -> None:
    """Drop log lines written after `step` by an interrupted session: they are about to be redone. A torn last
    line (killed mid-write) is dropped with a note; damage anywhere else is an error naming the line."""
    if not path.is_file():
        return
    lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    keep = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
            logged_step = record["step"] if isinstance(record, dict) else None
        except json.JSONDecodeError:
            logged_step = None
        if not isinstance(logged_step, int):
            if index == len(lines) - 1:
                echo(f"note: {path} line {number} is torn (interrupted write); dropped it, the resumed steps "
                     f"log it again")
                continue
            raise MlxclinError(f"{path} line {number} is not a JSON object with an integer 'step'; the training "
                               f"log is damaged (move it away to resume without it)")
        if logged_step <= step:
            keep.append(line)
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def train_step(model, optimizer, loss_and_grad, examples: list, batch_size: int, reduce: Optional[Callable] = None
               ) -> tuple:
    """One optimizer update over `examples` in micro-batches; returns (summed loss, trained tokens).
    reduce(grads, loss, trained): sums over the ranks of a data-parallel launch (DataParallel.reduce)."""
    import mlx.core as mx
    from mlx.utils import tree_map

    grads, total, trained = None, 0.0, 0
    for batch in micro_batches(examples, batch_size):
        inputs, positions, targets, n = to_arrays(batch)
        loss, g = loss_and_grad(model, inputs, positions, targets)
        grads = g if grads is None else tree_map(lambda a, b: a + b, grads, g)
        mx.eval(loss, grads)   # bounds the graph to one micro-batch
        total, trained = total + loss.item(), trained + n
    if reduce is not None:
        grads, total, trained = reduce(grads, total, trained)
    # the mean over every trained token of the step, however the tokens fell into micro-batches
    optimizer.update(model, tree_map(lambda a: a / trained, grads))
    mx.eval(model.trainable_parameters(), optimizer.state)
    return total, trained


@contextlib.contextmanager
def _interruptible(out: Path, bar):
    """Ctrl-C ends training with one line saying where --resume will pick up."""
    try:
        yield
    except KeyboardInterrupt:
        from mlxclin.errors import Interrupted

        bar.close()
        last = _checkpoint_dirs(out)
        where = f"the last checkpoint is {last[-1].name}" if last else "no checkpoint was written yet"
        raise Interrupted(f"training interrupted; {where}; continue with --resume") from None


def memory_preflight(model_path, config: TrainConfig, train_set: list, budget_gb: Optional[float] = None) -> str:
    """The fine-tuning memory estimate against the machine (or budget_gb): a line to print, or MlxclinError with
    advice when it does not fit. Runs before the model is loaded."""
    from mlxclin.memory import check_fits, estimate_finetune_memory, finetune_advice

    longest = max((len(e.ids) for e in train_set), default=1)
    most_trained = max((e.trained for e in train_set), default=1)
    estimate = estimate_finetune_memory(model_path, config, longest, most_trained)
    return check_fits(estimate, finetune_advice(config), budget_gb)


def train(model_path, data_dir, out, config: TrainConfig, resume: bool = False,
          stop_after_step: Optional[int] = None, echo: Callable = print, progress: bool = True,
          memory_check: bool = True, memory_budget_gb: Optional[float] = None) -> TrainResult:
    """Train LoRA adapters; returns when `total steps` (or `stop_after_step`, as if interrupted) are done.
    memory_check: estimate memory first and refuse (before loading) a configuration that does not fit."""
    import mlx.core as mx
    import mlx.nn as nn
    from tqdm import tqdm

    from mlxclin.device import peak_memory_gb, reset_peak_memory, rss_gb
    from mlxclin.models.gpt_oss import load

    from mlxclin.distributed import quiet_other_ranks
    from mlxclin.finetune.data_parallel import DataParallel

    parallel = DataParallel.for_config(config)   # one process: every hook below is a no-op
    quiet_other_ranks()   # rank 0 prints (progress lines too)
    progress, resume = progress and parallel.world.is_main, parallel.resumes_here(resume)
    out, data_dir = parallel.output_dir(Path(out)), Path(data_dir)
    train_set, skipped = load_split(data_dir, "train", config.max_seq_len)
    valid_set, skipped_valid = load_split(data_dir, "valid", config.max_seq_len)
    data_digest = file_digest(data_dir / "train.jsonl")
    if resume:
        checkpoint = _check_resume(out, config, data_digest)
    elif _checkpoint_dirs(out) or (out / LOG_FILE).exists():
        raise MlxclinError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    if skipped or skipped_valid:
        echo(f"skipping {skipped} train + {skipped_valid} valid example(s) longer than max_seq_len "
             f"{config.max_seq_len} (or without trained tokens)")

    order = StepOrder(len(train_set), config.batch_size * config.grad_accum, config.seed)
    total_steps = config.iters or config.epochs * order.steps_per_epoch
    if memory_check:
        echo(memory_preflight(model_path, config, train_set, memory_budget_gb))
    model, _, _ = load(model_path)
    apply_lora(model, config, seed=config.seed)
    report = parameter_report(model)
    echo(report.format())
    optimizer = make_optimizer(config, total_steps)
    out.mkdir(parents=True, exist_ok=True)
    (out / "param_report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    run_info = {"model": str(model_path), "data": str(data_dir), "train_digest": data_digest,
                "config": config.to_dict(), "total_steps": total_steps, "steps_per_epoch": order.steps_per_epoch,
                "train_examples": len(train_set), "valid_examples": len(valid_set), **parallel.run_info()}
    (out / RUN_FILE).write_text(json.dumps(run_info, indent=2) + "\n")

    start, trained_total = 0, 0
    if resume:
        state = load_checkpoint(checkpoint, model, optimizer)
        start, trained_total = state["step"], state.get("trained_tokens", 0)
        _truncate_log(out / LOG_FILE, start, echo)
        echo(f"resuming from {checkpoint} (step {start} of {total_steps})")
    start, trained_total = parallel.sync_state(model, optimizer, start, trained_total)
    end = min(total_steps, stop_after_step) if stop_after_step else total_steps
    if start >= end:
        echo(f"nothing to do: {out} is at step {start} of {total_steps}")
    echo(f"{len(train_set)} train / {len(valid_set)} valid examples, {order.steps_per_epoch} steps per epoch, "
         f"{total_steps} steps of {config.batch_size} x {config.grad_accum} examples")
    echo(parallel.describe())

    loss_and_grad = nn.value_and_grad(model, token_loss_sum)
    model.train()
    reset_peak_memory()
    window = {"loss": 0.0, "trained": 0, "tokens": 0, "steps": 0, "time": 0.0}
    train_loss = val_loss = None
    log = out / LOG_FILE
    bar = tqdm(total=total_steps, initial=start, desc="finetune", unit="step", disable=not progress, dynamic_ncols=True)
    with gradient_checkpointing(model, config.grad_checkpoint), _interruptible(out, bar):
        for step in range(start, end):
            tic = time.perf_counter()
            mx.random.seed(parallel.step_seed(config.seed * 1_000_003 + step))  # dropout noise: step (and rank)
            examples = [train_set[i] for i in order.indices(step)]
            step_loss, step_trained = train_step(model, optimizer, loss_and_grad, parallel.share(examples),
                                                 config.batch_size, reduce=parallel.reduce)
            elapsed = time.perf_counter() - tic
            done = step + 1
            trained_total += step_trained
            window["loss"] += step_loss
            window["trained"] += step_trained
            window["tokens"] += sum(len(e.ids) - 1 for e in examples)
            window["steps"] += 1
            window["time"] += elapsed
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss / step_trained:.3f}")

            if done % config.steps_per_report == 0 or done == total_steps:
                train_loss = window["loss"] / window["trained"]
                record = {"type": "train", "step": done, "epoch": order.epoch_of(step) + 1, "loss": train_loss,
                          "learning_rate": float(optimizer.learning_rate.item()),
                          "iterations_per_second": window["steps"] / window["time"],
                          "trained_tokens_per_second": window["trained"] / window["time"],
                          "tokens_per_second": window["tokens"] / window["time"],
                          "trained_tokens": trained_total, "peak_memory_gb": peak_memory_gb(), "rss_gb": rss_gb()}
                _append_log(log, record)
                bar.write(f"step {done}: loss {train_loss:.4f}, {record['iterations_per_second']:.3f} it/s, "
                          f"{record['trained_tokens_per_second']:.1f} trained tok/s, "
                          f"peak {record['peak_memory_gb']:.2f} GB (RSS {record['rss_gb']:.2f} GB)")
                window = dict.fromkeys(window, 0)
            if valid_set and (done % config.steps_per_eval == 0 or done == total_steps):
                val_loss = validation_loss(model, valid_set, config)
                _append_log(log, {"type": "valid", "step": done, "val_loss": val_loss})
                bar.write(f"step {done}: validation loss {val_loss:.4f}")
            if done % config.save_every == 0 or done == end:
                state = {"trained_tokens": trained_total, "config": config.to_dict(), "train_digest": data_digest}
                save_checkpoint(out, model, optimizer, done, state, config.keep_checkpoints)
                save_adapters(model, out, adapter_config(config, model_path, {"step": done, "data": str(data_dir)}))
    bar.close()
    stopped = end < total_steps
    if stopped:
        echo(f"stopped after step {end} of {total_steps}; continue with --resume")
    return TrainResult(out, end, train_loss, val_loss, report.to_dict(), stopped)
