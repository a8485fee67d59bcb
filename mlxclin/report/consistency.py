"""Does a run directory agree with itself? metrics.json is recomputed from samples.jsonl the way the tasks
aggregate (majority of runs per item; judge: items with a readable score), and every disagreement becomes a
warning line in the report: a hand-edited or stale metrics.json must not be shown as if the samples backed it."""

from mlxclin.report.paired import choice_outcomes, judge_outcomes


def _choice_warning(row) -> list:
    accuracy = row.metrics.get("accuracy") or {}
    outcomes = choice_outcomes(row)
    correct, n = sum(outcomes.values()), len(outcomes)
    claimed = (accuracy.get("correct"), accuracy.get("n"))
    if claimed == (correct, n):
        return []
    return [f"{row.run.path}: metrics.json says {claimed[0]}/{claimed[1]} correct for {row.label}, but "
            f"samples.jsonl gives {correct}/{n}; the metrics file does not match its samples"]


def _judge_warnings(row) -> list:
    out = []
    outcomes = judge_outcomes(row)
    for subset, block in (row.metrics.get("subsets") or {}).items():
        scored = len(outcomes.get(subset, {}))
        if block.get("n") != scored:
            out.append(f"{row.run.path}: metrics.json says n {block.get('n')} for {row.label} ({subset}), but "
                       f"samples.jsonl has {scored} scored items; the metrics file does not match its samples")
    return out


def consistency_warnings(run, rows: list) -> list:
    """Warnings for one run directory (its report rows, one per effort); [] when it has no samples.jsonl."""
    if not run.has_samples():
        return []
    return [w for row in rows for w in (_choice_warning(row) if row.is_choice else _judge_warnings(row))]
