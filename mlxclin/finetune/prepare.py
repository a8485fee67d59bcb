"""Training cases -> Harmony-rendered token ids with a trained-token mask, split into train and valid (DATA_DIR).

Each example is rendered by openai-harmony exactly as inference renders it (mlxclin.harmony): system message with
the reasoning effort, the task's instructions as developer message, the user message built by the Eurorad
prompt template, then the assistant reply: the reasoning trace in the analysis channel when one is known and the
gold diagnosis in the final channel. mlx-lm's datasets go through the tokenizer's chat template, which cannot take
a reasoning effort, hence the pre-rendering. DATA_DIR holds:

  train.jsonl, valid.jsonl   one example per line: {"key", "source", "ids", "mask", "gold", "has_trace"}
  prepare.json               settings, counts, length distribution, leakage summary
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from mlxclin.data import iter_jsonl
from mlxclin.errors import MlxclinError

PREPARE_FILE = "prepare.json"
SPLITS = ("train", "valid")


@dataclass
class PrepareResult:
    out: Path
    counts: dict                 # split -> examples
    lengths: dict                # min / median / p90 / p99 / max of token counts (all examples)
    trained_tokens: dict         # the same for trained (assistant) tokens
    over_max_seq_len: int
    with_trace: int
    gold_not_in_options: int
    dropped_leaks: int = 0
    leakage: Optional[dict] = None
    info: dict = field(default_factory=dict)


def _distribution(values: list) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"min": int(a.min()), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": int(a.max()), "mean": float(a.mean())}


def case_messages(case, prompt) -> list:
    """Chat messages of one training case: the Eurorad task's prompt, then the assistant answer (+ trace)."""
    from mlxclin.tasks import get_task
    from mlxclin.tasks.base import Item

    messages = get_task("eurorad").build_messages(Item(case.key, {"case": case.case, "options": case.options}),
                                                  prompt)
    reply = {"role": "assistant", "content": case.gold}
    if case.trace:
        reply["thinking"] = case.trace
    return messages + [reply]


def load_traces(path) -> dict:
    """Accepted traces of `mlxclin traces` (key -> reasoning); rejected records are skipped."""
    path = Path(path)
    if not path.is_file():
        raise MlxclinError(f"traces file not found: {path}")
    traces = {}
    with open(path, encoding="utf-8") as f:
        for number, record in iter_jsonl(f, path):
            if "key" not in record:
                raise MlxclinError(f"{path} line {number} is not a trace record (no 'key')")
            if record.get("accepted") and record.get("reasoning"):
                traces[record["key"]] = record["reasoning"]
    return traces


def check_model(model_dir) -> dict:
    """The model must speak Harmony (gpt-oss) and cover the vocabulary; returns what prepare.json records."""
    from mlxclin.models.folders import check_model_folder

    path = Path(model_dir)
    config = check_model_folder(path)
    from mlxclin.models.families import family_of

    if family_of(config) is not None:  # Qwen3.5 / Gemma 4 render through their chat templates
        return {"path": str(path), "model_type": config["model_type"], "family": family_of(config).name}
    if config.get("model_type") != "gpt_oss":
        raise MlxclinError(f"{path} is a {config.get('model_type')!r} model; prepare renders the Harmony format, "
                           f"which only gpt-oss models use")
    return {"path": str(path), "model_type": config["model_type"], "vocab_size": config.get("vocab_size")}


def split_indices(n: int, valid_fraction: float, seed: int) -> tuple:
    """Seeded (train, valid) index lists; at least one validation example whenever the fraction is > 0."""
    if not 0.0 <= valid_fraction < 1.0:
        raise MlxclinError(f"--valid-fraction must be in [0, 1), got {valid_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(valid_fraction * n))
    if valid_fraction > 0 and n >= 2:
        n_valid = min(max(n_valid, 1), n - 1)
    return sorted(order[n_valid:].tolist()), sorted(order[:n_valid].tolist())


TRAIN_FILE, TEST_FILE = "eurorad_train_messages.jsonl", "eurorad_test.csv"


def training_file(data) -> Path:
    """--data: a training file, a folder holding eurorad_train_messages.jsonl, or None for the released file
    (downloaded once, sha256-pinned and cached like the test sets)."""
    from mlxclin.data import resolve_data_file

    return resolve_data_file(TRAIN_FILE, data, flag="--data")


def leakage_test_file(test_data, train_file: Path, echo=print) -> Path:
    """--test-data, else eurorad_test.csv beside the training file (the released layout), else the released file."""
    from mlxclin.data import resolve_data_file

    if test_data is None and (Path(train_file).parent / TEST_FILE).is_file():
        echo(f"leakage check against {Path(train_file).parent / TEST_FILE} (found beside the training file)")
        return Path(train_file).parent / TEST_FILE
    try:
        return resolve_data_file(TEST_FILE, test_data, flag="--test-data")
    except MlxclinError as e:
        raise MlxclinError(f"the leakage check needs the Eurorad test set ({e}); or pass --skip-leakage") from None


def _leakage_check(cases: list, test_file: Path, drop_leaks: bool, echo) -> tuple:
    """Print the leakage table; with drop_leaks, remove training cases that nearly duplicate a test case.
    Returns (cases, report, number dropped)."""
    from mlxclin.finetune.leakage import check_leakage, format_report
    from mlxclin.tasks import get_task

    report = check_leakage(cases, get_task("eurorad").load_items(test_file))
    echo(format_report(report, cases))
    if not drop_leaks:
        return cases, report, 0
    leaked = report.leaked_train
    echo(f"dropped {len(leaked)} training case(s) with a near duplicate in the test set")
    return [c for i, c in enumerate(cases) if i not in leaked], report, len(leaked)


def prepare(data, model, out, effort: str = "medium", valid_fraction: float = 0.1, seed: int = 0,
            limit: Optional[int] = None, traces: Optional[str] = None, prompt_file: Optional[str] = None,
            max_seq_len: int = 4096, test_data=None, leakage: bool = True, drop_leaks: bool = False,
            echo=print) -> PrepareResult:
    from mlxclin.finetune.cases import load_cases
    from mlxclin.harmony import render_training_example
    from mlxclin.prompts import load_prompt

    if effort not in ("low", "medium", "high"):
        raise MlxclinError(f"unknown effort {effort!r}; choose low, medium or high")
    info = {"model": check_model(model)}
    data = training_file(data)
    cases = load_cases(data, limit)
    report, dropped = None, 0
    if leakage:
        cases, report, dropped = _leakage_check(cases, leakage_test_file(test_data, data, echo), drop_leaks, echo)
    elif drop_leaks:
        raise MlxclinError("--drop-leaks needs the leakage check; drop --skip-leakage")
    if traces:
        known = load_traces(traces)
        for c in cases:
            c.trace = known.get(c.key, c.trace)
    prompt = load_prompt(prompt_file or "eurorad")

    if info["model"].get("family"):  # issue 14 dispatch: <think> / thought-channel targets (models/families.py)
        from mlxclin.models.families import training_renderer

        render_training_example = training_renderer(model)
    examples = []
    for c in cases:
        ids, mask = render_training_example(case_messages(c, prompt), effort)
        examples.append({"key": c.key, "source": c.source, "ids": ids, "mask": mask, "gold": c.gold,
                         "has_trace": bool(c.trace)})
    if not examples:
        raise MlxclinError("no training examples left to write")
    train_idx, valid_idx = split_indices(len(examples), valid_fraction, seed)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, indices in zip(SPLITS, (train_idx, valid_idx)):
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in indices:
                f.write(json.dumps(examples[i], ensure_ascii=False) + "\n")
        counts[split] = len(indices)
    lengths = [len(e["ids"]) for e in examples]
    result = PrepareResult(
        out=out, counts=counts, lengths=_distribution(lengths),
        trained_tokens=_distribution([sum(e["mask"]) for e in examples]),
        over_max_seq_len=sum(n > max_seq_len for n in lengths),
        with_trace=sum(e["has_trace"] for e in examples),
        gold_not_in_options=sum(c.gold not in c.options for c in cases),
        dropped_leaks=dropped, leakage=report.to_dict() if report else None, info=info)
    meta = {"data": str(data), "effort": effort, "prompt": prompt.source, "valid_fraction": valid_fraction,
            "seed": seed, "limit": limit, "traces": str(traces) if traces else None, "max_seq_len": max_seq_len,
            "counts": counts, "lengths": result.lengths, "trained_tokens": result.trained_tokens,
            "over_max_seq_len": result.over_max_seq_len, "with_trace": result.with_trace,
            "gold_not_in_options": result.gold_not_in_options, "dropped_leaks": dropped,
            "leakage": result.leakage, **info}
    (out / PREPARE_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def format_summary(r: PrepareResult, max_seq_len: int) -> str:
    L, T = r.lengths, r.trained_tokens
    return "\n".join([
        f"prepared {r.counts['train']} train + {r.counts['valid']} valid examples -> {r.out}",
        f"  tokens per example: min {L['min']}, median {L['median']:.0f}, p90 {L['p90']:.0f}, p99 {L['p99']:.0f}, "
        f"max {L['max']}",
        f"  trained (assistant) tokens per example: min {T['min']}, median {T['median']:.0f}, max {T['max']}",
        f"  longer than --max-seq-len {max_seq_len}: {r.over_max_seq_len} (skipped by training)",
        f"  with a reasoning trace: {r.with_trace}; gold not among the listed options: {r.gold_not_in_options}",
    ])
