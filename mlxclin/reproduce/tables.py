"""The paper's tables from replayed (and live) model results, as report Tables (mlxclin.report.tables.Table).

Eurorad: majority-of-3 accuracy with Wilson CI, single-run mean, pass@3 (upper bound), Fleiss kappa, the 10
subspecialty groups, McNemar (continuity-corrected) between every pair of models with Holm across the pairs.
Ophthalmology: overall, Diagnosis / Management and Type x Topic with CIs. Judge, per subset: median error (IQR)
overall, per specialty and per frequency; MAE, Spearman, ICC(3,k) on errors and on scores, weighted kappa against
the experts (labels: the union over every model of the subset); Wilcoxon on |error| between pairs, Holm per subset,
p = 1 below 10 non-zero differences. Reasoning effort: gpt-oss-style L/M/H rows side by side per task.
"""

from itertools import combinations

from mlxclin import stats
from mlxclin.protocol import PAPER
from mlxclin.report import fmt
from mlxclin.report.tables import Table
from mlxclin.tasks import get_task

EFFORTS = ("L", "M", "H")


def label(result) -> str:
    return result.name if result.source == "released predictions" else f"{result.name} · live"


def _runs_mean(metrics: dict):
    values = [v for v in metrics.get("per_run_accuracy") or [] if v is not None]
    return sum(values) / len(values) if values else None


def choice_summary(task: str, results: list) -> Table:
    rows = [[label(r), fmt.pct_ci(r.metrics["accuracy"]), fmt.count(r.metrics["accuracy"]),
             fmt.num(_runs_mean(r.metrics)), fmt.num(r.metrics["pass_at_k"]["pct"]),
             fmt.num(r.metrics["fleiss_kappa"], 3)] for r in results]
    return Table(f"{task}_accuracy", f"{task}: accuracy per model (majority of 3 runs)",
                 ["Model", "Majority % (95% CI)", "Correct", "Single-run mean %", "pass@3 % (upper bound)",
                  "Fleiss κ (runs)"], rows)


def choice_groups(task: str, results: list, groups: list, title: str, with_ci: bool) -> Table:
    cell = fmt.pct_ci if with_ci else fmt.pct_count
    rows = [[label(r)] + [cell(r.metrics["groups"].get(g)) for g in groups] for r in results]
    return Table(f"{task}_groups", title, ["Model"] + groups, rows)


def mcnemar_pairs(task: str, results: list) -> Table:
    pairs = []
    for a, b in combinations(results, 2):
        shared = sorted(set(a.majority) & set(b.majority))
        test = stats.mcnemar_test([a.majority[k] for k in shared], [b.majority[k] for k in shared])
        pairs.append((a, b, len(shared), test))
    adjusted = stats.holm_adjust([t["p_value"] for *_, t in pairs])
    rows = [[label(a), label(b), str(n), str(t["a_only"]), str(t["b_only"]), fmt.num(t["statistic"], 2),
             fmt.p_value(t["p_value"]), fmt.p_value(p)] for (a, b, n, t), p in zip(pairs, adjusted)]
    return Table(f"{task}_mcnemar", f"{task}: McNemar (continuity-corrected) between models, Holm across the pairs",
                 ["A", "B", "n", "A only", "B only", "χ²", "p", "p (Holm)"], rows)


def judge_summary(subset: str, results: list) -> Table:
    task = get_task("judge", protocol=PAPER)
    blocks = [(r, r.metrics["subsets"][subset]) for r in results]
    labels = [s for r, _ in blocks for c in r.consensus.values() for s in c]   # every model's consensus + experts
    rows = []
    for r, m in blocks:
        consensus = list(r.consensus.values())
        kappa = task.weighted_kappa([c for c, _ in consensus], [h for _, h in consensus], labels)
        rows.append([label(r), str(m["n"]), fmt.median_iqr(m), fmt.num(m["mae"], 3), fmt.num(m["spearman"], 3),
                     fmt.num(m["icc3k_errors"], 3), fmt.num(m["icc3k_scores"], 3), fmt.num(kappa, 3)])
    return Table(f"judge_{subset}_summary", f"judge ({subset}): error = mean of runs − expert score",
                 ["Model", "n", "Median error (IQR)", "MAE", "Spearman", "ICC(3,k) on errors",
                  "ICC(3,k) on scores", "Weighted κ vs experts"], rows,
                 notes=["Weighted κ: linear weights by label position over the union of the rounded labels of all "
                        "models shown and the experts; rounding to 0.5 half-to-even (the paper's rule)."])


def judge_breakdown(subset: str, results: list, key: str) -> Table:
    names = sorted({g for r in results for g in r.metrics["subsets"][subset][key]})
    rows = [[label(r)] + [fmt.median_iqr(r.metrics["subsets"][subset][key].get(g)) for g in names] for r in results]
    return Table(f"judge_{subset}_{key}", f"judge ({subset}): median error (IQR) per {key}", ["Model"] + names, rows)


def wilcoxon_pairs(subset: str, results: list) -> Table:
    pairs = []
    for a, b in combinations(results, 2):
        shared = sorted(set(a.consensus) & set(b.consensus))
        err_a = [a.consensus[k][0] - a.consensus[k][1] for k in shared]
        err_b = [b.consensus[k][0] - b.consensus[k][1] for k in shared]
        pairs.append((a, b, len(shared), stats.wilcoxon_abs_errors(err_a, err_b, stats.PAPER_WILCOXON_MIN_NONZERO)))
    adjusted = stats.holm_adjust([t["p_value"] for *_, t in pairs])   # one subset = one family (the paper's)
    rows = [[label(a), label(b), str(n), str(t["n_nonzero"]), fmt.num(t["statistic"], 1), fmt.p_value(t["p_value"]),
             fmt.p_value(p)] for (a, b, n, t), p in zip(pairs, adjusted)]
    return Table(f"judge_{subset}_wilcoxon", f"judge ({subset}): Wilcoxon on |error|, Holm within the subset",
                 ["A", "B", "n", "non-zero diffs", "W", "p", "p (Holm)"], rows,
                 notes=["p = 1 without a test when fewer than 10 paired |errors| differ (the paper's rule)."])


def effort_table(key: str, title: str, results: list, value) -> Table:
    """Families with reasoning-effort variants: one row per family, one column per effort."""
    families = {}
    for r in results:
        if r.effort:
            families.setdefault(label(r).replace(r.name, r.family), {})[r.effort] = r
    rows = [[family] + [value(by_effort[e]) if e in by_effort else fmt.MISSING for e in EFFORTS]
            for family, by_effort in families.items()]
    return Table(key, title, ["Model"] + [f"{e}" for e in EFFORTS], rows)


def task_tables(task: str, subset: str, results: list) -> list:
    """Every table of one data file's results."""
    if task == "judge":
        return [judge_summary(subset, results), judge_breakdown(subset, results, "groups"),
                judge_breakdown(subset, results, "frequency"), wilcoxon_pairs(subset, results),
                effort_table(f"judge_{subset}_effort", f"judge ({subset}): median error (IQR) by reasoning effort",
                             results, lambda r: fmt.median_iqr(r.metrics["subsets"][subset]))]
    groups = sorted({g for r in results for g in r.metrics["groups"]})
    tables = [choice_summary(task, results)]
    if task == "ophtho":
        kinds = [g for g in groups if " / " not in g]
        tables.append(choice_groups("ophtho_type", results, kinds, "ophtho: Diagnosis / Management (95% CI)", True))
        tables.append(choice_groups(task, results, [g for g in groups if " / " in g],
                                    "ophtho: Type × Topic (95% CI)", True))
    else:
        tables.append(choice_groups(task, results, groups, f"{task}: accuracy per subspecialty group", False))
        tables.append(mcnemar_pairs(task, results))
    tables.append(effort_table(f"{task}_effort", f"{task}: majority accuracy % (95% CI) by reasoning effort",
                               results, lambda r: fmt.pct_ci(r.metrics["accuracy"])))
    return tables
