"""The paper's statistics, as plain functions of numbers (no task or file knowledge here).

scipy / statsmodels / scikit-learn do the work where they have the test. ICC(3,k) is written out (neither scipy,
statsmodels nor scikit-learn has it, and pingouin would pull in a stack for four lines of ANOVA); it and the small
helpers are checked against published textbook values in tests/test_stats.py.

Where the paper's scripts and mlxclin's own rules differ (weighted kappa, Holm families, the Wilcoxon minimum),
both are here under names that say which is which; mlxclin.protocol picks one per protocol.
Functions return plain Python floats (JSON-ready) and None where a statistic is undefined (e.g. no variance).
"""

import math
from typing import Optional, Sequence

import numpy as np

# scipy and statsmodels are imported inside the functions that use them: importing them costs seconds, and
# `mlxclin eval` must check its settings (which imports the tasks, hence this module) before any work.


def _float_or_none(value) -> Optional[float]:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


# --- proportions -----------------------------------------------------------------------------------------------

PAPER_WILSON_Z = 1.96   # the paper's scripts round the normal quantile; statsmodels uses 1.959964...


def wilson_interval(correct: int, n: int, confidence: float = 0.95, z: Optional[float] = None) -> tuple:
    """Wilson score interval for a proportion, as fractions (low, high). (nan, nan) for n == 0.

    By default statsmodels with the exact normal quantile of `confidence`; with `z` given (the paper: 1.96), the
    closed form with that z, which moves the bounds by about 5e-6 - enough to flip a printed last digit."""
    from statsmodels.stats.proportion import proportion_confint
    if n == 0:
        return float("nan"), float("nan")
    if z is None:
        low, high = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
        return float(low), float(high)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_summary(correct: int, n: int, z: Optional[float] = None) -> dict:
    """{"pct", "ci_low", "ci_high", "correct", "n"}: percentages 0-100 with the Wilson 95 % CI, unrounded
    (`z` as in wilson_interval)."""
    if n == 0:
        return {"pct": None, "ci_low": None, "ci_high": None, "correct": 0, "n": 0}
    low, high = wilson_interval(correct, n, z=z)
    return {"pct": 100.0 * correct / n, "ci_low": 100.0 * low, "ci_high": 100.0 * high,
            "correct": int(correct), "n": int(n)}


def majority_vote(run_correct: Sequence[bool]) -> bool:
    """An item is correct when more than half of its runs are (2 of 3; a 1-1 split of 2 runs is not)."""
    return sum(bool(c) for c in run_correct) * 2 > len(run_correct)


def pass_at_k(run_correct: Sequence[bool]) -> bool:
    """At least one of the k runs is correct."""
    return any(run_correct)


# --- agreement ---------------------------------------------------------------------------------------------------

def fleiss_kappa(ratings) -> Optional[float]:
    """Fleiss' kappa for an items x raters matrix of category labels (here: runs' correctness per item).

    None when undefined: fewer than 2 raters, or every rating in one category (chance agreement is 1).
    """
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as _statsmodels_fleiss_kappa
    ratings = np.asarray(ratings)
    if ratings.ndim != 2 or ratings.shape[0] == 0 or ratings.shape[1] < 2:
        return None
    counts, _ = aggregate_raters(ratings)
    if counts.shape[1] < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _float_or_none(_statsmodels_fleiss_kappa(counts, method="fleiss"))


def icc3k(scores) -> Optional[float]:
    """ICC(3,k) of Shrout & Fleiss (1979): two-way mixed, consistency, mean of k raters.

    scores: items x raters matrix without missing values. ICC(3,k) = (MS_rows - MS_error) / MS_rows.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2 or np.isnan(x).any():
        return None
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    if ms_rows == 0:
        return None
    return float((ms_rows - ms_error) / ms_rows)


def icc3k_on_errors(run_scores, reference) -> Optional[float]:
    """ICC(3,k) of the runs' errors (run score minus the reference score of the item), as the paper's code computes
    it. Subtracting a per-item reference changes the between-item variance, not the residual, so this differs from
    ICC(3,k) on the raw scores (`icc3k`) whenever the reference varies between items."""
    x = np.asarray(run_scores, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if x.ndim != 2 or ref.shape != (x.shape[0],):
        return None
    return icc3k(x - ref[:, None])


def weighted_kappa_linear(a: Sequence[float], b: Sequence[float], step: float = 0.5) -> Optional[float]:
    """Linear-weighted Cohen's kappa between two raters' scores after rounding each to the nearest `step`
    (half up, so 4.25 -> 4.5). Categories are the union of the rounded values, in numeric order."""
    from statsmodels.stats.inter_rater import cohens_kappa
    ra, rb = round_to_step(a, step), round_to_step(b, step)
    if len(ra) != len(rb) or not ra:
        return None
    categories = sorted(set(ra) | set(rb))
    if len(categories) < 2:
        return None
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(ra, rb):
        table[index[x], index[y]] += 1
    # statsmodels' weights are distances between category positions; passing the category values themselves
    # keeps unequal gaps (e.g. 3.0 and 4.5 with nothing in between) at their real distance.
    result = cohens_kappa(table, weights=np.array(categories), wt="linear")
    return _float_or_none(result.kappa)


def round_half_even_to_step(values: Sequence[float], step: float = 0.5) -> list:
    """Round to the nearest multiple of `step`, ties to the even multiple (numpy's rounding, the paper's):
    with step 0.5, 4.25 -> 4.0 and 4.75 -> 5.0."""
    return [float(v) for v in np.round(np.asarray(values, dtype=float) / step) * step]


def weighted_kappa_positional(a: Sequence[float], b: Sequence[float], labels: Sequence[float] = None,
                              step: float = 0.5) -> Optional[float]:
    """The paper's weighted kappa: both raters' scores rounded to the nearest `step` half-to-even, then Cohen's
    kappa with linear weights by *position* in `labels` (scikit-learn's `cohen_kappa_score`), where `labels` is the
    union of the rounded labels of every model compared (default: of a and b). A gap in the label list (3.0 and
    4.5 with nothing between) therefore counts as one step, not three."""
    from sklearn.metrics import cohen_kappa_score
    ra, rb = round_half_even_to_step(a, step), round_half_even_to_step(b, step)
    if len(ra) != len(rb) or not ra:
        return None
    chosen = sorted(set(round_half_even_to_step(labels, step)) if labels is not None else set(ra) | set(rb))
    if len(chosen) < 2 or not set(ra) | set(rb) <= set(chosen):
        return None
    position = {label: i for i, label in enumerate(chosen)}   # scikit-learn refuses float ("continuous") labels
    with np.errstate(divide="ignore", invalid="ignore"):
        return _float_or_none(cohen_kappa_score([position[v] for v in ra], [position[v] for v in rb],
                                                labels=list(range(len(chosen))), weights="linear"))


def round_to_step(values: Sequence[float], step: float = 0.5) -> list:
    """Round half up to a multiple of `step` (Python's round() would send 4.25 to 4.0 with step 0.5)."""
    return [math.floor(v / step + 0.5) * step for v in values]


# --- score errors ------------------------------------------------------------------------------------------------

def median_iqr(values: Sequence[float]) -> tuple:
    """(median, 25th percentile, 75th percentile) with linear interpolation (numpy's default)."""
    if len(values) == 0:
        return None, None, None
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75], method="linear")
    return float(q50), float(q25), float(q75)


def mean_absolute_error(predicted: Sequence[float], reference: Sequence[float]) -> Optional[float]:
    if len(predicted) == 0:
        return None
    return float(np.mean(np.abs(np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float))))


def spearman(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    from scipy import stats as scipy_stats
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return _float_or_none(scipy_stats.spearmanr(a, b).statistic)


def pearson(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    from scipy import stats as scipy_stats
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return _float_or_none(scipy_stats.pearsonr(a, b).statistic)


# --- paired comparisons of two models ----------------------------------------------------------------------------

def mcnemar_test(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """McNemar's chi-square test with continuity correction on paired per-item correctness of two models.

    Returns {"statistic", "p_value", "a_only", "b_only"} (discordant counts: a right and b wrong, and vice versa).
    """
    from statsmodels.stats.contingency_tables import mcnemar
    if len(correct_a) != len(correct_b):
        raise ValueError("paired comparison needs the same items for both models")
    a_only = sum(1 for x, y in zip(correct_a, correct_b) if x and not y)
    b_only = sum(1 for x, y in zip(correct_a, correct_b) if y and not x)
    both = sum(1 for x, y in zip(correct_a, correct_b) if x and y)
    neither = len(correct_a) - a_only - b_only - both
    if a_only + b_only == 0:
        return {"statistic": 0.0, "p_value": 1.0, "a_only": 0, "b_only": 0}
    result = mcnemar([[both, a_only], [b_only, neither]], exact=False, correction=True)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "a_only": a_only, "b_only": b_only}


def wilcoxon_abs_errors(errors_a: Sequence[float], errors_b: Sequence[float], min_nonzero: int = 1) -> dict:
    """Wilcoxon signed-rank test (two-sided) on the paired absolute errors of two judges on the same items.

    Zero differences are dropped (scipy's default "wilcox" method). {"statistic", "p_value", "n_nonzero"}; p = 1
    (statistic None) when fewer than `min_nonzero` paired absolute errors differ - the paper's rule is 10, below
    which it does not test; with the default 1, p = 1 only when all are equal.
    """
    from scipy import stats as scipy_stats
    abs_a = np.abs(np.asarray(errors_a, dtype=float))
    abs_b = np.abs(np.asarray(errors_b, dtype=float))
    if abs_a.shape != abs_b.shape:
        raise ValueError("paired comparison needs the same items for both judges")
    n_nonzero = int(np.count_nonzero(abs_a != abs_b))
    if n_nonzero == 0:
        return {"statistic": 0.0, "p_value": 1.0, "n_nonzero": 0}
    if n_nonzero < min_nonzero:
        return {"statistic": None, "p_value": 1.0, "n_nonzero": n_nonzero}
    result = scipy_stats.wilcoxon(abs_a, abs_b, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "n_nonzero": n_nonzero}


PAPER_WILCOXON_MIN_NONZERO = 10   # the paper's scripts give p = 1 below this many non-zero differences


def holm_adjust(p_values: Sequence[float]) -> list:
    """Holm-Bonferroni adjusted p-values (statsmodels), in the given order."""
    from statsmodels.stats.multitest import multipletests
    if len(p_values) == 0:
        return []
    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]


def holm_by_family(p_values: Sequence[float], families: Sequence) -> list:
    """Holm within each family of tests (e.g. per judge subset, as the paper corrects), in the given order."""
    adjusted = [None] * len(p_values)
    for family in dict.fromkeys(families):
        where = [i for i, f in enumerate(families) if f == family]
        for i, p in zip(where, holm_adjust([p_values[i] for i in where])):
            adjusted[i] = p
    return adjusted
