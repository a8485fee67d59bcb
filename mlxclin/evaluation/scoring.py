"""From items to requests, and from completions to samples: the backend-independent half of an evaluation.

    items -> Requests -> backend.stream -> Completions -> task.parse / task.score -> samples -> metrics

Every sample carries a typed `status`: "ok" (an answer was read and scored), "unparsed" (the model answered but
no answer could be read: scored as the task scores it, i.e. wrong), "error" (the request failed: no answer at all;
never scored, retried by a rerun). Metrics are computed from the items and sample dicts alone, so they can be
recomputed from a run directory's samples.jsonl.
"""

import hashlib

from mlxclin.backends.base import Request

# per-request speed and memory fields a backend fills in (None where it cannot measure them)
PERF_FIELDS = ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "reasoning_tokens", "queued_s",
               "ttft_s", "prefill_tps", "decode_tps", "latency_s", "peak_memory_gb", "rss_gb")
STATUSES = ("ok", "unparsed", "error")


def request_id(item_id: str, run: int, effort: str) -> str:
    return f"{item_id}:{run}:{effort}"


def request_seed(base_seed: int, item_id: str, run: int) -> int:
    """Each request its own seed, from (base seed, item, run) only: the same across efforts, batch sizes and
    resumes. Kept below 2**31 because some APIs take a 32-bit seed."""
    digest = hashlib.sha256(f"{base_seed}:{item_id}:{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def build_requests(task, items: list, prompts: dict, runs: int, effort: str, base_seed: int = 0,
                   **sampling) -> list:
    """One Request per item x run, run-major. `prompts` maps subset ("" if none) -> template."""
    messages = {item.id: task.build_messages(item, prompts[item.subset]) for item in items}
    return [Request(id=request_id(item.id, run, effort), messages=messages[item.id], effort=effort,
                    item_id=item.id, run=run, seed=request_seed(base_seed, item.id, run),
                    prefix_key=f"{item.subset}|{effort}", **sampling)
            for run in range(runs) for item in items]


def is_unparsed(sample: dict) -> bool:
    """No answer could be read from the output (empty, unmatched option, no letters, no score)."""
    return sample.get("prediction") in (None, "", [], ()) or sample.get("match_type") in ("no_match", "unparsed")


def score_completion(task, item, request, completion) -> dict:
    """One samples.jsonl record: who was asked, what came back, how it was read and scored."""
    sample = {
        "item_id": item.id,
        "subset": item.subset,
        "run": request.run,
        "effort": request.effort,
        "request_id": request.id,
        "seed": request.seed,
        "gold": task.gold(item),
        "raw": completion.text,
        "final": completion.final,
        "reasoning": completion.reasoning,
        "completion_status": completion.status,
        "finish_reason": completion.finish_reason,
        "format": completion.format,
        **{k: getattr(completion, k) for k in PERF_FIELDS},
    }
    if completion.status == "error":
        sample.update(status="error", error=completion.error or "the request failed")
    else:
        if "beams" in completion.extra:  # one beam search: the task parses every beam, the vote picks one
            from mlxclin.evaluation.beams import parse_beams

            parsed, beam_fields = parse_beams(task, item, completion)
            sample.update(beam_fields)
        else:
            parsed = task.parse(item, completion)
        sample.update(parsed, **task.score(item, parsed))
        sample["status"] = "unparsed" if is_unparsed(sample) else "ok"
    if completion.extra:
        sample["extra"] = completion.extra
    return sample


def compute_metrics(task, items: list, samples: list, runs: int, model: str) -> dict:
    """The metrics.json document (docs/evaluation.md, "metrics.json"). Failed requests are not answers: they are left out
    of the task's statistics (a run without an answer counts as not correct, as a missing run always has) and
    counted in n_errors; unparsed answers stay in (the model did answer) and are counted in n_unparsed."""
    answered = [s for s in samples if s.get("status") != "error"]
    return {"task": task.name, "model": model, "runs": runs, **task.aggregate(items, answered, runs),
            "n_samples": len(samples), "n_errors": len(samples) - len(answered),
            "n_unparsed": sum(1 for s in answered if s.get("status") == "unparsed")}
