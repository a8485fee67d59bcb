"""The evaluation run engine: k runs x efforts x items through any backend, resumable and measured.

For each effort and run it sends the requests not yet in samples.jsonl in chunks (the backend's batch size or
concurrency), scores each completion with the task, optionally re-samples unparseable answers, and appends the
samples to the run directory as each chunk finishes. Metrics and perf are recomputed from samples.jsonl at the end,
so an interrupted and resumed run ends with exactly the files of an uninterrupted one.
"""

import time
from dataclasses import dataclass, field, replace
from typing import Optional

from tqdm import tqdm

from mlxclin.errors import MlxclinError
from mlxclin.evaluate import build_requests, compute_metrics, is_unparsed, score_completions
from mlxclin.runs import METRICS, PERF, RunDir, write_json


@dataclass
class EvalPlan:
    efforts: list
    runs: int
    seed: int = 0
    sampling: dict = field(default_factory=dict)   # temperature, top_p, max_tokens
    chunk: int = 1                                  # requests handed to the backend at once
    retry_unparsed: int = 0
    model: str = ""
    price: Optional[dict] = None                    # USD per million tokens: {"input": .., "output": ..}


class Interrupted(MlxclinError):
    exit_code = 130


def _live_postfix(samples: list) -> dict:
    scored = [s for s in samples if "correct" in s or s.get("score") is not None]
    post = {}
    if scored and "correct" in scored[0]:
        post["acc"] = f"{100 * sum(bool(s['correct']) for s in scored) / len(scored):.1f}%"
    speeds = [s["decode_tps"] for s in samples if s.get("decode_tps")]
    if speeds:
        post["tok/s"] = f"{sum(speeds) / len(speeds):.1f}"
    return post


def _generate_scored(task, items, backend, chunk: list, plan: EvalPlan) -> list:
    """Generate and score one chunk; re-sample unparsed answers up to plan.retry_unparsed times (counted)."""
    t0 = time.perf_counter()
    samples = score_completions(task, items, chunk, backend.generate(chunk))
    share = (time.perf_counter() - t0) / len(chunk)
    for s in samples:
        s["wall_s"], s["retries_unparsed"] = share, 0
    for attempt in range(1, plan.retry_unparsed + 1):
        todo = [i for i, s in enumerate(samples) if is_unparsed(s)]
        if not todo:
            break
        again = [replace(chunk[i], seed=None if chunk[i].seed is None else chunk[i].seed + 100_003 * attempt)
                 for i in todo]
        t0 = time.perf_counter()
        redo = score_completions(task, items, again, backend.generate(again))
        share = (time.perf_counter() - t0) / len(again)
        for i, s in zip(todo, redo):
            s["wall_s"] = samples[i]["wall_s"] + share
            s["retries_unparsed"] = attempt
            samples[i] = s
    return samples


def run_eval(task, items: list, backend, prompts: dict, plan: EvalPlan, run_dir: RunDir, progress: bool = True):
    """Run (or resume) the plan; returns (metrics_by_effort, samples_by_effort)."""
    done = {s["request_id"] for s in run_dir.read_samples()}
    try:
        for effort in plan.efforts:
            requests = build_requests(task, items, prompts, plan.runs, effort, **plan.sampling)
            for r in requests:
                r.seed = plan.seed + r.run  # each run its own seed, the same across efforts
            for run in range(plan.runs):
                todo = [r for r in requests if r.run == run and r.id not in done]
                bar = tqdm(total=len(items), initial=len(items) - len(todo), disable=not progress,
                           desc=f"{task.name} {effort} run {run + 1}/{plan.runs}", unit="item", leave=True)
                fresh = []
                for i in range(0, len(todo), plan.chunk):
                    samples = _generate_scored(task, items, backend, todo[i:i + plan.chunk], plan)
                    run_dir.append_samples(samples)
                    done.update(s["request_id"] for s in samples)
                    fresh.extend(samples)
                    bar.update(len(samples))
                    bar.set_postfix(_live_postfix(fresh), refresh=False)
                bar.close()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; finished samples are in {run_dir.file('samples.jsonl')}; "
                          f"rerun the same command to resume") from None
    return collect(task, items, plan, run_dir)


def collect(task, items: list, plan: EvalPlan, run_dir: RunDir):
    """Metrics per effort from samples.jsonl alone (what report and resume rely on)."""
    item_ids = {i.id for i in items}
    samples = [s for s in run_dir.read_samples() if s["item_id"] in item_ids]
    by_effort = {e: [s for s in samples if s["effort"] == e] for e in plan.efforts}
    metrics = {e: {**compute_metrics(task, items, by_effort[e], plan.runs, plan.model), "effort": e}
               for e in plan.efforts}
    return metrics, by_effort


def write_results(run_dir: RunDir, metrics: dict, by_effort: dict, n_items: int, plan: EvalPlan,
                  perf_header: dict) -> dict:
    """metrics.json (first effort at top level, all under by_effort) and perf.json; returns perf per effort."""
    from mlxclin.perf import aggregate

    first = next(iter(metrics.values()))
    doc = dict(first)
    if len(metrics) > 1:
        doc["by_effort"] = metrics
    write_json(run_dir.file(METRICS), doc)
    perf = {e: aggregate(s, sum(x.get("wall_s") or 0 for x in s), n_items, plan.price) for e, s in by_effort.items()}
    write_json(run_dir.file(PERF), {**perf_header, "efforts": perf})
    return perf
