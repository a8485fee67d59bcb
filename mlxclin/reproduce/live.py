"""`reproduce --live`: the paper's zero-shot protocol on a local MLX model, through the evaluation library.

Each task is one `evaluate(EvalSpec(...))` (resumable run directory under OUT/live/<task>), 3 runs per item at each
reasoning effort with gpt-oss's sampling (temperature 1, top-p 1). The engine's progress bar shows the ETA within a
task from the measured request rate; after each task one line gives the rate so far and the ETA of the rest. The answers are then read back from samples.jsonl
and scored again under the paper protocol, whatever protocol the run directory was scored with, so the live rows
sit beside the published models under the same rules.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from mlxclin.backends.base import Completion
from mlxclin.evaluation import EvalSpec, evaluate
from mlxclin.evaluation.rundir import RunDir
from mlxclin.evaluation.setup import load_inputs
from mlxclin.protocol import PAPER
from mlxclin.reproduce.models import FILES, RUNS, result_from_samples
from mlxclin.tasks import get_task

TASKS = ("eurorad", "ophtho", "judge")
EFFORT_LETTER = {"low": "L", "medium": "M", "high": "H"}
CHARS_PER_TOKEN = 4   # a rough prompt-size estimate: the plan must not load the tokenizer


@dataclass
class LiveTask:
    task: str
    spec: EvalSpec
    inputs: object          # mlxclin.evaluation.setup.Inputs
    requests: int
    prompt_tokens: int      # estimated
    max_completion_tokens: int


def plan(model: str, data, tasks, efforts, limit, max_tokens: int, out: Path) -> list:
    """One LiveTask per task, with its request count and token estimate; settings are validated here."""
    planned = []
    for task in tasks:
        spec = EvalSpec(task=task, backend="mlx", model=model, data=None if data is None else str(data),
                        efforts=list(efforts), runs=RUNS, limit=limit, max_tokens=max_tokens,
                        temperature=1.0, top_p=1.0, out=str(Path(out) / "live" / task), quiet=False)
        inputs = load_inputs(spec)
        n = len(inputs.items) * RUNS * len(spec.efforts)
        chars = sum(len(m["content"]) for item in inputs.items
                    for m in inputs.task.build_messages(item, inputs.prompts[item.subset]))
        planned.append(LiveTask(task, spec, inputs, n, chars // CHARS_PER_TOKEN * RUNS * len(spec.efforts),
                                n * max_tokens))
    return planned


def plan_lines(planned: list) -> list:
    lines = [f"plan: {p.task}: {len(p.inputs.items)} items × {RUNS} runs × {len(p.spec.effort_list)} efforts "
             f"({', '.join(p.spec.effort_list)}) = {p.requests} requests, ≈{p.prompt_tokens:,} prompt tokens, "
             f"≤{p.max_completion_tokens:,} completion tokens → {p.spec.out}" for p in planned]
    total = sum(p.requests for p in planned)
    lines.append(f"plan: {total} requests in all (prompt tokens estimated at {CHARS_PER_TOKEN} characters each)")
    return lines


def run_live(planned: list, echo) -> dict:
    """Evaluate each task, printing measured throughput and an ETA after each; (task, subset) -> [ModelResult]."""
    results, done, started = {}, 0, time.perf_counter()
    total = sum(p.requests for p in planned)
    for p in planned:
        result = evaluate(p.spec, echo=echo)
        done += p.requests
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        echo(f"{p.task}: {result.new_samples} new samples in {result.run_dir}; {done}/{total} requests, "
             f"{rate:.2f} requests/s measured, ETA {eta:.0f} s")
        for key, found in rescore(p, result.run_dir).items():
            results.setdefault(key, []).extend(found)
    return results


def rescore(p: LiveTask, run_dir: Path) -> dict:
    """The run directory's answers scored under the paper protocol: (task, subset) -> one ModelResult per effort."""
    task = get_task(p.task, protocol=PAPER)
    name = Path(p.spec.model).name
    samples = RunDir(run_dir).read_samples()
    found = {}
    for subset, items in p.inputs.items_by_subset.items():
        by_id = {item.id: item for item in items}
        for effort in p.spec.effort_list:
            scored = []
            for s in samples:
                if s.get("effort") != effort or s["item_id"] not in by_id or s.get("status") == "error":
                    continue
                item = by_id[s["item_id"]]
                parsed = task.parse(item, Completion(id=s["request_id"], final=s.get("final") or ""))
                scored.append({"item_id": item.id, "run": s["run"], **parsed, **task.score(item, parsed)})
            label = f"{name} ({EFFORT_LETTER.get(effort, effort)})"
            found.setdefault((p.task, subset), []).append(
                result_from_samples(task, items, scored, label, [], FILES[(p.task, subset)], source=str(run_dir)))
    return found
