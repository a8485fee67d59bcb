"""Paired significance between two measured models on the same items, with Holm correction across the pairs shown.

Eurorad / ophthalmology: McNemar (continuity-corrected) on per-item majority correctness. Judge, per subset:
Wilcoxon signed-rank on the absolute errors of the two consensus scores, and linear-weighted Cohen's κ between the
consensus scores. The per-item values are recomputed from samples.jsonl the way the tasks aggregate them, so they
agree with metrics.json. The tests themselves live in mlxclin.stats.
"""

import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Optional

from mlxclin import stats

ALPHA = 0.05


@dataclass
class PairResult:
    task: str
    subset: str
    a: str                      # row labels
    b: str
    n: int                      # paired items
    test: str                   # "McNemar" | "Wilcoxon"
    statistic: Optional[float]
    p_value: Optional[float]
    p_holm: Optional[float] = None
    details: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


def _cached(fn):
    """Per-row memo: a report pairs every row with every other one, and reading the samples dominates."""
    def wrapper(row):
        cache = row.__dict__.setdefault("_outcomes", {})
        if fn.__name__ not in cache:
            cache[fn.__name__] = fn(row)
        return cache[fn.__name__]
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_cached
def choice_outcomes(row) -> dict:
    """item id -> majority-of-runs correctness; a missing run counts as wrong (as ChoiceTask.aggregate does)."""
    runs = int(row.metrics.get("runs") or row.run.metrics.get("runs") or 1)
    flags = {}
    for s in row.run.samples():
        if s.get("effort", row.sample_effort) != row.sample_effort:
            continue
        key = (s.get("subset", ""), str(s["item_id"]))
        flags.setdefault(key, [False] * runs)
        if 0 <= s.get("run", 0) < runs:
            flags[key][s.get("run", 0)] = bool(s.get("correct"))
    return {key: stats.majority_vote(v) for key, v in flags.items()}


@_cached
def judge_outcomes(row) -> dict:
    """subset -> {item id: (consensus score, expert score)}; items without a readable score are left out."""
    scores, gold = {}, {}
    for s in row.run.samples():
        if s.get("effort", row.sample_effort) != row.sample_effort:
            continue
        key = (s.get("subset", ""), str(s["item_id"]))
        gold[key] = s.get("gold")
        scores.setdefault(key, [])
        if s.get("score") is not None:
            scores[key].append(float(s["score"]))
    out = {}
    for (subset, item_id), values in scores.items():
        if values and gold[(subset, item_id)] is not None:
            out.setdefault(subset, {})[item_id] = (sum(values) / len(values), float(gold[(subset, item_id)]))
    return out


def comparable(a, b) -> Optional[str]:
    """None when the two rows can be paired; else the reason they cannot (shown under the table)."""
    if a.task != b.task:
        return f"{a.label} and {b.label} are different tasks ({a.task}, {b.task})"
    if not (a.measured and b.measured):
        return "published rows have no per-item answers"
    if not (a.run.has_samples() and b.run.has_samples()):
        return f"{a.label if not a.run.has_samples() else b.label} has no samples.jsonl"
    ha, hb = a.run.data_hashes(), b.run.data_hashes()
    differing = [s or "data" for s in set(ha) & set(hb) if ha[s] != hb[s]]
    if differing:
        return f"{a.label} and {b.label} read different data files ({', '.join(sorted(differing))})"
    return None


def compare_choice(a, b) -> Optional[PairResult]:
    oa, ob = choice_outcomes(a), choice_outcomes(b)
    shared = sorted(set(oa) & set(ob))
    if not shared:
        return None
    result = stats.mcnemar_test([oa[k] for k in shared], [ob[k] for k in shared])
    return PairResult(a.task, "", a.label, b.label, len(shared), "McNemar", result["statistic"], result["p_value"],
                      details={"a_only": result["a_only"], "b_only": result["b_only"],
                               "acc_a": 100.0 * sum(oa[k] for k in shared) / len(shared),
                               "acc_b": 100.0 * sum(ob[k] for k in shared) / len(shared)})


def compare_judge(a, b) -> list:
    oa, ob = judge_outcomes(a), judge_outcomes(b)
    results = []
    for subset in sorted(set(oa) & set(ob)):
        shared = sorted(set(oa[subset]) & set(ob[subset]))
        if not shared:
            continue
        err_a = [oa[subset][k][0] - oa[subset][k][1] for k in shared]
        err_b = [ob[subset][k][0] - ob[subset][k][1] for k in shared]
        test = stats.wilcoxon_abs_errors(err_a, err_b)
        with warnings.catch_warnings():
            # statsmodels warns that κ's standard error is undefined under perfect agreement; only κ is used.
            warnings.simplefilter("ignore", RuntimeWarning)
            kappa = stats.weighted_kappa_linear([oa[subset][k][0] for k in shared],
                                                [ob[subset][k][0] for k in shared])
        results.append(PairResult(a.task, subset, a.label, b.label, len(shared), "Wilcoxon", test["statistic"],
                                  test["p_value"], details={
                                      "mae_a": stats.mean_absolute_error(err_a, [0.0] * len(err_a)),
                                      "mae_b": stats.mean_absolute_error(err_b, [0.0] * len(err_b)),
                                      "weighted_kappa": kappa}))
    return results


def compare_rows(a, b) -> list:
    """Every paired test of two rows (one for choice tasks, one per shared subset for judge)."""
    if a.is_choice:
        result = compare_choice(a, b)
        return [result] if result else []
    return compare_judge(a, b)


def holm(results: list) -> list:
    """Fill p_holm across the given results (Holm-Bonferroni, statsmodels), in place; returns them."""
    from statsmodels.stats.multitest import multipletests
    tested = [r for r in results if r.p_value is not None]
    if tested:
        adjusted = multipletests([r.p_value for r in tested], alpha=ALPHA, method="holm")[1]
        for r, p in zip(tested, adjusted):
            r.p_holm = float(p)
    return results


def pairwise(rows: list) -> tuple:
    """All pairs of measured rows of one task: (results with Holm-adjusted p, notes on pairs that were skipped)."""
    results, notes = [], []
    measured = [r for r in rows if r.measured]
    for a, b in combinations(measured, 2):
        reason = comparable(a, b)
        if reason:
            notes.append(f"not paired: {reason}")
            continue
        found = compare_rows(a, b)
        if not found:
            notes.append(f"not paired: {a.label} and {b.label} share no items")
        results.extend(found)
    return holm(results), notes
