"""Speed and memory aggregates over samples (perf.json) and the end-of-run summary table.

Everything is recomputed from samples.jsonl: each sample records its session (one process's stretch of work), when
it finished on that session's clock (`finished_at_s`) and its own queue wait and latency, so a run that was killed
and resumed is measured as the sum of its sessions. Field meanings are documented once, in docs/evaluation.md ("perf.json").
"""

import numpy as np


def _values(samples: list, key: str) -> list:
    return [s[key] for s in samples if s.get(key) is not None]


def _percentiles(values: list) -> dict:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


def _mean(values: list):
    return float(np.mean(values)) if values else None


def wall_seconds(samples: list) -> float:
    """Sum over sessions of (last finish - first start) of these samples; start = finish - latency."""
    spans = {}
    for s in samples:
        end = s.get("finished_at_s")
        if end is None:
            continue
        start = end - (s.get("latency_s") or 0.0)
        lo, hi = spans.get(s.get("session"), (start, end))
        spans[s.get("session")] = (min(lo, start), max(hi, end))
    return float(sum(hi - lo for lo, hi in spans.values()))


def aggregate(samples: list, n_items: int, price: dict = None) -> dict:
    """One perf block: engine throughput over wall time, per-request percentiles, memory, errors, cost."""
    wall = wall_seconds(samples)
    per_s = lambda x: x / wall if wall > 0 else None  # noqa: E731
    prompt_tokens = int(sum(s.get("prompt_tokens") or 0 for s in samples))
    cached_tokens = int(sum(s.get("cached_prompt_tokens") or 0 for s in samples))
    completion_tokens = int(sum(s.get("completion_tokens") or 0 for s in samples))
    prefix_prefills = [s["extra"]["prefix_prefill_s"] for s in samples
                       if (s.get("extra") or {}).get("prefix_prefill_s")]
    cost = None
    if price:
        cost = (prompt_tokens * price.get("input", 0) + completion_tokens * price.get("output", 0)) / 1e6
    return {
        "n_samples": len(samples),
        "n_items": n_items,
        "wall_s": wall,
        "items_per_s": per_s(len(samples)),
        "decode_tps_aggregate": per_s(completion_tokens),
        "prefill_tps_aggregate": per_s(prompt_tokens - cached_tokens),
        "mean_batch_occupancy": per_s(sum(_values(samples, "latency_s"))),
        "latency_s": _percentiles(_values(samples, "latency_s")),
        "ttft_s": _percentiles(_values(samples, "ttft_s")),
        "queued_s": _percentiles(_values(samples, "queued_s")),
        "prefill_tps": _mean(_values(samples, "prefill_tps")),
        "decode_tps": _mean(_values(samples, "decode_tps")),
        "prefill_tps_per_request": _percentiles(_values(samples, "prefill_tps")),
        "decode_tps_per_request": _percentiles(_values(samples, "decode_tps")),
        "reasoning_tokens_mean": _mean(_values(samples, "reasoning_tokens")),
        "prompt_tokens": prompt_tokens,
        "cached_prompt_tokens": cached_tokens,
        "completion_tokens": completion_tokens,
        "prefix_prefills": len(prefix_prefills),
        "prefix_prefill_s": float(sum(prefix_prefills)),
        "peak_memory_gb": max(_values(samples, "peak_memory_gb"), default=None),
        "rss_gb": max(_values(samples, "rss_gb"), default=None),
        "errors": sum(1 for s in samples if s.get("status") == "error"),
        "retries_unparsed": int(sum(s.get("retries_unparsed", 0) for s in samples)),
        "cost_usd": cost,
        "cost_per_1000_items_usd": cost / len(samples) * 1000 if cost is not None and samples else None,
    }


def _f(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)


def summary_table(metrics_by_effort: dict, perf_by_effort: dict) -> str:
    choice = any("accuracy" in m for m in metrics_by_effort.values())   # the judge has errors, not accuracy
    head = ("effort", "accuracy (95% CI)" if choice else "judge error vs experts", "items/s", "lat p50/p95 s", "TTFT p50/p95 s", "prefill tok/s",
            "decode tok/s (engine)", "batch", "reasoning tok", "peak GB", "wall s")
    rows = [head]
    for effort, m in metrics_by_effort.items():
        p = perf_by_effort.get(effort, {})
        if "accuracy" in m:
            a = m["accuracy"]
            score = f"{a['pct']:.1f}% ({a['ci_low']:.1f}-{a['ci_high']:.1f})"
        else:
            score = "; ".join(f"{k} med.err {_f(v['median_error'])}" for k, v in m["subsets"].items())
        rows.append((effort, score, _f(p.get("items_per_s")),
                     f"{_f(p.get('latency_s', {}).get('p50'))}/{_f(p.get('latency_s', {}).get('p95'))}",
                     f"{_f(p.get('ttft_s', {}).get('p50'))}/{_f(p.get('ttft_s', {}).get('p95'))}",
                     _f(p.get("prefill_tps"), "{:.1f}"),
                     f"{_f(p.get('decode_tps'), '{:.1f}')} ({_f(p.get('decode_tps_aggregate'), '{:.1f}')})",
                     _f(p.get("mean_batch_occupancy"), "{:.1f}"), _f(p.get("reasoning_tokens_mean"), "{:.1f}"),
                     _f(p.get("peak_memory_gb")), _f(p.get("wall_s"), "{:.1f}")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)
