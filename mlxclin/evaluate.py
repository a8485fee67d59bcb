"""The evaluation loop, independent of any backend:

    items -> Requests -> backend.generate -> Completions -> task.parse / task.score -> samples -> metrics

Each step is its own function so a run engine (batching, resuming from samples.jsonl, live backends) can reuse
them; `evaluate` chains them once. Metrics are computed from the items and the sample dicts alone, so they can
be recomputed from a run directory's samples.jsonl.
"""

import json
from pathlib import Path

from mlxclin.backends.base import Request

# per-request speed and memory fields a backend fills in (None where it cannot measure them)
PERF_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "ttft_s", "prefill_tps", "decode_tps",
               "latency_s", "peak_memory_gb", "rss_gb")
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"


def request_id(item_id: str, run: int, effort: str) -> str:
    return f"{item_id}:{run}:{effort}"


def build_requests(task, items: list, prompts: dict, runs: int, effort: str, **sampling) -> list:
    """One Request per item x run, run-major within each item. `prompts` maps subset ("" if none) -> template."""
    requests = []
    for item in items:
        messages = task.build_messages(item, prompts[item.subset])
        for run in range(runs):
            requests.append(Request(id=request_id(item.id, run, effort), messages=messages, effort=effort,
                                    item_id=item.id, run=run, **sampling))
    return requests


def score_completion(task, item, request, completion) -> dict:
    """One samples.jsonl record: who was asked, what came back, how it was read and scored."""
    parsed = task.parse(item, completion)
    sample = {
        "item_id": item.id,
        "subset": item.subset,
        "run": request.run,
        "effort": request.effort,
        "request_id": request.id,
        "raw": completion.text,
        "final": completion.final,
        **parsed,
        **task.score(item, parsed),
        "gold": task.gold(item),
        "status": completion.status,
        "finish_reason": completion.finish_reason,
        "format": completion.format,
        "seed": request.seed,
        "reasoning": completion.reasoning,
        **{k: getattr(completion, k) for k in PERF_FIELDS},
    }
    if completion.error:
        sample["error"] = completion.error
    if completion.extra:
        sample["extra"] = completion.extra
    return sample


def is_unparsed(sample: dict) -> bool:
    """No answer could be read from the output (empty, unmatched option, no letters, no score)."""
    return sample.get("prediction") in (None, "", [], ()) or sample.get("match_type") in ("no_match", "unparsed")


def score_completions(task, items: list, requests: list, completions: list) -> list:
    by_id = {item.id: item for item in items}
    if len(requests) != len(completions):
        raise RuntimeError(f"backend returned {len(completions)} completions for {len(requests)} requests")
    return [score_completion(task, by_id[r.item_id], r, c) for r, c in zip(requests, completions)]


def compute_metrics(task, items: list, samples: list, runs: int, model: str) -> dict:
    """The metrics.json document (see README, "metrics.json")."""
    return {"task": task.name, "model": model, "runs": runs, **task.aggregate(items, samples, runs)}


def write_samples(run_dir: Path, samples: list) -> Path:
    path = Path(run_dir) / SAMPLES_FILE
    with open(path, "w", encoding="utf-8") as f:
        for sample in samples:
            f.write(json.dumps(sample, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def read_samples(run_dir: Path) -> list:
    with open(Path(run_dir) / SAMPLES_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_metrics(run_dir: Path, metrics: dict) -> Path:
    path = Path(run_dir) / METRICS_FILE
    # allow_nan=False: an undefined statistic must be written as null, never as the non-JSON NaN.
    path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def evaluate(task, items: list, backend, prompts: dict, runs: int, effort: str, model: str, run_dir,
             **sampling) -> dict:
    """Ask every item `runs` times, score the answers, write samples.jsonl and metrics.json; return the metrics."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    requests = build_requests(task, items, prompts, runs, effort, **sampling)
    completions = backend.generate(requests)
    samples = score_completions(task, items, requests, completions)
    write_samples(run_dir, samples)
    metrics = compute_metrics(task, items, samples, runs, model)
    write_metrics(run_dir, metrics)
    return metrics
