"""Speed and memory aggregates over samples (perf.json) and the end-of-run summary table."""

import numpy as np


def _pct(values: list, q: float):
    values = [v for v in values if v is not None]
    return float(np.percentile(values, q)) if values else None


def _mean(values: list):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _max(values: list):
    values = [v for v in values if v is not None]
    return float(max(values)) if values else None


def aggregate(samples: list, wall_s: float, n_items: int, price: dict = None) -> dict:
    """One perf block: throughput, latency/TTFT percentiles, token speeds, reasoning length, memory, cost."""
    col = lambda k: [s.get(k) for s in samples]  # noqa: E731
    prompt_tokens = int(sum(s.get("prompt_tokens") or 0 for s in samples))
    completion_tokens = int(sum(s.get("completion_tokens") or 0 for s in samples))
    cost = None
    if price:
        cost = (prompt_tokens * price.get("input", 0) + completion_tokens * price.get("output", 0)) / 1e6
    return {
        "n_samples": len(samples),
        "n_items": n_items,
        "wall_s": wall_s,
        "items_per_s": len(samples) / wall_s if wall_s else None,
        "latency_s": {"p50": _pct(col("latency_s"), 50), "p95": _pct(col("latency_s"), 95)},
        "ttft_s": {"p50": _pct(col("ttft_s"), 50), "p95": _pct(col("ttft_s"), 95)},
        "prefill_tps": _mean(col("prefill_tps")),
        "decode_tps": _mean(col("decode_tps")),
        "reasoning_tokens_mean": _mean(col("reasoning_tokens")),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "peak_memory_gb": _max(col("peak_memory_gb")),
        "rss_gb": _max(col("rss_gb")),
        "errors": sum(1 for s in samples if s.get("error")),
        "retries_unparsed": int(sum(s.get("retries_unparsed", 0) for s in samples)),
        "cost_usd": cost,
        "cost_per_1000_items_usd": cost / len(samples) * 1000 if cost is not None and samples else None,
    }


def _f(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)


def summary_table(metrics_by_effort: dict, perf_by_effort: dict) -> str:
    choice = any("accuracy" in m for m in metrics_by_effort.values())   # the judge has errors, not accuracy
    head = ("effort", "accuracy (95% CI)" if choice else "judge error vs experts", "items/s", "lat p50/p95 s", "TTFT p50/p95 s", "prefill tok/s",
            "decode tok/s", "reasoning tok", "peak GB", "wall s")
    rows = [head]
    for effort, m in metrics_by_effort.items():
        p = perf_by_effort.get(effort, {})
        if "accuracy" in m:
            a = m["accuracy"]
            acc = f"{a['pct']:.1f} ({a['ci_low']:.1f}-{a['ci_high']:.1f})"
        else:
            acc = "; ".join(f"{k} med.err {_f(v['median_error'])}" for k, v in m["subsets"].items())
        rows.append((effort, acc, _f(p.get("items_per_s")),
                     f"{_f(p.get('latency_s', {}).get('p50'))}/{_f(p.get('latency_s', {}).get('p95'))}",
                     f"{_f(p.get('ttft_s', {}).get('p50'))}/{_f(p.get('ttft_s', {}).get('p95'))}",
                     _f(p.get("prefill_tps"), "{:.1f}"), _f(p.get("decode_tps"), "{:.1f}"),
                     _f(p.get("reasoning_tokens_mean"), "{:.1f}"), _f(p.get("peak_memory_gb")),
                     _f(p.get("wall_s"), "{:.1f}")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)
