"""Statistics against published textbook values (sources in each test) and small hand-computed cases."""

import math

import pytest

from mlxclin import stats


# --- proportions -------------------------------------------------------------------------------------------------

def test_wilson_interval_matches_newcombe_1998():
    # Newcombe, Stat Med 17:857-872 (1998), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert stats.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)


def test_wilson_interval_edge_cases():
    low, high = stats.wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.25 < high < 0.35   # Wilson never gives a zero-width interval
    low, high = stats.wilson_interval(10, 10)
    assert 0.65 < low < 0.75 and high == pytest.approx(1.0)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_accuracy_summary_in_percent_unrounded():
    s = stats.accuracy_summary(185, 207)
    assert s["pct"] == 100 * 185 / 207
    assert (round(s["ci_low"], 1), round(s["ci_high"], 1)) == (84.4, 92.9)   # the paper's Eurorad GPT-5.1 row
    assert (s["correct"], s["n"]) == (185, 207)
    assert stats.accuracy_summary(0, 0)["pct"] is None


@pytest.mark.parametrize("runs, majority, passed", [
    ([True, True, False], True, True),
    ([True, False, False], False, True),
    ([False, False, False], False, False),
    ([True, False], False, True),          # a tie is not "more than half"
    ([True, True, False, False, True], True, True),
])
def test_majority_vote_and_pass_at_k(runs, majority, passed):
    assert stats.majority_vote(runs) is majority
    assert stats.pass_at_k(runs) is passed


# --- agreement ---------------------------------------------------------------------------------------------------

def _ratings_from_counts(counts):
    return [[category for category, n in enumerate(row) for _ in range(n)] for row in counts]


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) worked example as tabulated on Wikipedia "Fleiss' kappa": 10 subjects, 14 raters,
    # 5 categories, kappa = 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert stats.fleiss_kappa(_ratings_from_counts(counts)) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_binary_runs():
    # Perfect agreement with both categories present -> 1; three items x 2 runs, hand-computed:
    # P_bar = (1 + 0 + 1)/3 = 2/3, p = (3/6, 3/6), P_e = 1/2 -> kappa = (2/3 - 1/2) / (1/2) = 1/3.
    assert stats.fleiss_kappa([[1, 1, 1], [0, 0, 0]]) == pytest.approx(1.0)
    assert stats.fleiss_kappa([[1, 1], [1, 0], [0, 0]]) == pytest.approx(1 / 3)


def test_fleiss_kappa_undefined_cases_are_none():
    assert stats.fleiss_kappa([[1, 1, 1], [1, 1, 1]]) is None    # one category only: chance agreement is 1
    assert stats.fleiss_kappa([[1], [0]]) is None                # a single rater
    assert stats.fleiss_kappa([]) is None


def test_icc3k_matches_shrout_fleiss_1979():
    # Shrout & Fleiss, Psychol Bull 86:420-428 (1979), Table 2 data (6 targets x 4 judges): ICC(3,k) = .91.
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert stats.icc3k(table) == pytest.approx(0.909, abs=5e-4)


def test_icc3k_consistency_ignores_a_constant_rater_offset():
    # ICC(3,k) measures consistency: a judge who is always exactly 1 point higher agrees perfectly.
    assert stats.icc3k([[1, 2], [2, 3], [4, 5]]) == pytest.approx(1.0)


def test_icc3k_undefined_cases_are_none():
    assert stats.icc3k([[3, 3], [3, 3]]) is None           # no between-item variance
    assert stats.icc3k([[1, 2, 3]]) is None                # one item
    assert stats.icc3k([[1, float("nan")], [2, 3]]) is None


def test_weighted_kappa_linear_hand_computed():
    # Categories 1,2,3; linear weights |i-j|/2. Observed disagreement = (0.5 + 0.5)/5 = 0.2; both raters'
    # marginals (.4, .4, .2) give expected disagreement 0.4 -> kappa_w = 1 - 0.2/0.4 = 0.5.
    assert stats.weighted_kappa_linear([1, 2, 3, 1, 2], [1, 2, 2, 1, 3]) == pytest.approx(0.5)


def test_weighted_kappa_linear_rounds_consensus_scores_to_half_points():
    # 4.26 -> 4.5, 4.24 -> 4.0, 4.75 -> 5.0 (half up): identical after rounding -> perfect agreement.
    assert stats.weighted_kappa_linear([4.26, 4.24, 4.75, 2.0], [4.5, 4.0, 5.0, 2.0]) == pytest.approx(1.0)


def test_weighted_kappa_linear_penalises_far_disagreement_more():
    near = stats.weighted_kappa_linear([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])
    far = stats.weighted_kappa_linear([1, 2, 3, 4, 5], [1, 2, 3, 5, 1])
    assert near > far


def test_round_to_step_rounds_half_up():
    assert stats.round_to_step([4.25, 4.24, 3.75, 1.0, 2.6667], 0.5) == [4.5, 4.0, 4.0, 1.0, 2.5]


# --- score errors ------------------------------------------------------------------------------------------------

def test_median_iqr_uses_linear_percentiles():
    assert stats.median_iqr([1, 2, 3, 4]) == (2.5, 1.75, 3.25)
    assert stats.median_iqr([0.0, -0.5, 0.5, 1.0, -1.0]) == (0.0, -0.5, 0.5)
    assert stats.median_iqr([]) == (None, None, None)


def test_mean_absolute_error():
    assert stats.mean_absolute_error([1, 2, 5], [2, 2, 3]) == pytest.approx(1.0)
    assert stats.mean_absolute_error([], []) is None


def test_spearman_and_pearson_hand_computed():
    # Ranks differ by (1, 1, 1, 1, 0) -> rho = 1 - 6*4 / (5*24) = 0.8; with these rank-valued data r = 0.8 too.
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert stats.spearman(x, y) == pytest.approx(0.8)
    assert stats.pearson(x, y) == pytest.approx(0.8)
    assert stats.pearson([1, 2, 3], [3, 5, 7]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3], [1, 4, 100]) == pytest.approx(1.0)
    assert stats.pearson([1, 2, 3], [1, 4, 100]) < 0.95


def test_correlations_without_variance_are_none():
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
    assert stats.pearson([1, 2, 3], [4, 4, 4]) is None
    assert stats.pearson([1], [1]) is None


# --- paired comparisons ------------------------------------------------------------------------------------------

def test_mcnemar_with_continuity_correction_matches_agresti():
    # Agresti, Categorical Data Analysis (2002), Table 10.1 (presidential approval, n = 1600): discordant 150 / 86.
    # Uncorrected z^2 = 64^2 / 236 = 17.36; with continuity correction (|150-86| - 1)^2 / 236 = 16.82.
    a = [True] * 794 + [True] * 150 + [False] * 86 + [False] * 570
    b = [True] * 794 + [False] * 150 + [True] * 86 + [False] * 570
    result = stats.mcnemar_test(a, b)
    assert result["statistic"] == pytest.approx(63 ** 2 / 236)
    assert (result["a_only"], result["b_only"]) == (150, 86)
    assert result["p_value"] == pytest.approx(4.11e-5, rel=1e-2)


def test_mcnemar_without_discordant_pairs():
    assert stats.mcnemar_test([True, False], [True, False])["p_value"] == 1.0
    with pytest.raises(ValueError):
        stats.mcnemar_test([True], [True, False])


def test_wilcoxon_on_absolute_errors_hand_computed():
    # |a| - |b| = (1, 2, 3, -4, 5, 6): W- = 4, W+ = 17, statistic = min = 4. Exact null: 7 of the 64 sign
    # patterns have W <= 4 ({}, {1}, {2}, {3}, {4}, {1,2}, {1,3}) -> two-sided p = 2 * 7/64 = 0.21875.
    errors_a = [1.5, -2.5, 3.5, 0.5, -5.5, 6.5]     # signs must not matter: absolute errors are compared
    errors_b = [0.5, 0.5, -0.5, 4.5, 0.5, -0.5]
    result = stats.wilcoxon_abs_errors(errors_a, errors_b)
    assert result["statistic"] == pytest.approx(4.0)
    assert result["p_value"] == pytest.approx(0.21875)


def test_wilcoxon_identical_absolute_errors():
    assert stats.wilcoxon_abs_errors([0.5, -1.0], [-0.5, 1.0])["p_value"] == 1.0


# --- the paper's variants (protocol "paper"), against hand-computed values --------------------------------------

def test_icc3k_on_errors_differs_from_icc3k_on_scores_hand_computed():
    # scores [[2,3],[4,4],[3,5]]: row means 2.5, 4, 4 (grand 3.5) -> SS_rows = 2 * 1.5 = 3, SS_cols = 1.5,
    # SS_total = 5.5 -> SS_error = 1; MS_rows = 1.5, MS_error = 0.5 -> ICC(3,k) = 1 / 1.5 = 2/3.
    scores, experts = [[2, 3], [4, 4], [3, 5]], [1, 4, 3]
    assert stats.icc3k(scores) == pytest.approx(2 / 3)
    # errors [[1,2],[0,0],[0,2]]: row means 1.5, 0, 1 (grand 5/6) -> SS_rows = 2 * 7/6 = 7/3, the residual is
    # unchanged (SS_error = 1) -> MS_rows = 7/6, MS_error = 0.5 -> ICC(3,k) = (7/6 - 1/2) / (7/6) = 4/7.
    assert stats.icc3k_on_errors(scores, experts) == pytest.approx(4 / 7)
    assert stats.icc3k_on_errors(scores, [1, 4]) is None   # one reference per item


def test_round_half_even_to_step():
    assert stats.round_half_even_to_step([4.25, 4.75, 1.25, 2.6667, 3.24], 0.5) == [4.0, 5.0, 1.0, 2.5, 3.0]
    assert stats.round_to_step([4.25, 4.75, 1.25], 0.5) == [4.5, 5.0, 1.5]    # mlxclin's half-up, for contrast


def test_weighted_kappa_positional_over_the_label_union_hand_computed():
    a, b = [1, 2, 4.25, 4.5], [1, 4.0, 4.0, 4.5]     # half-to-even: 4.25 -> 4.0
    # labels 1, 2, 4, 4.5 at positions 0-3; observed weighted disagreement 1/4 (2 vs 4 is one position apart);
    # marginals a (1/4 each), b (1/4, 0, 1/2, 1/4) -> expected 1.25 -> kappa = 1 - 0.25 / 1.25 = 0.8.
    assert stats.weighted_kappa_positional(a, b) == pytest.approx(0.8)
    # Another compared model used 3.0: positions 0-4, 2 vs 4 is now two apart: observed 0.5, expected 1.75
    # -> kappa = 1 - 0.5 / 1.75 = 5/7.
    assert stats.weighted_kappa_positional(a, b, labels=[1, 2, 3.0, 4, 4.5]) == pytest.approx(5 / 7)
    # mlxclin's rule (value weights, half up: 4.25 -> 4.5) gives a different number on the same scores.
    assert stats.weighted_kappa_linear(a, b) != pytest.approx(0.8, abs=1e-3)


def test_weighted_kappa_positional_undefined_cases():
    assert stats.weighted_kappa_positional([3, 3], [3, 3]) is None          # a single category
    assert stats.weighted_kappa_positional([1, 2], [1, 3], labels=[1, 2]) is None   # 3 not among the labels
    assert stats.weighted_kappa_positional([], []) is None


def test_holm_per_family_versus_across_families():
    p = [0.01, 0.04, 0.03]
    # across all three: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 raised to the running maximum 0.06
    assert stats.holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06])
    # per judge subset, as the paper corrects: diagnosis {0.01, 0.04} -> 0.02, 0.04; treatment {0.03} -> 0.03
    assert stats.holm_by_family(p, ["diagnosis", "diagnosis", "treatment"]) == pytest.approx([0.02, 0.04, 0.03])


def test_wilcoxon_gives_p_one_below_ten_nonzero_differences():
    # |a| - |b| = 1..n, all positive: W = 0, exact two-sided p = 2 / 2^n.
    nine = stats.wilcoxon_abs_errors(list(range(1, 10)), [0] * 9, min_nonzero=10)
    assert nine == {"statistic": None, "p_value": 1.0, "n_nonzero": 9}
    assert stats.wilcoxon_abs_errors(list(range(1, 10)), [0] * 9)["p_value"] == pytest.approx(2 / 2 ** 9)
    # zero differences do not count towards the 10: ten pairs, one of them tied
    tied = stats.wilcoxon_abs_errors(list(range(1, 10)) + [0.5], [0] * 9 + [-0.5], min_nonzero=10)
    assert tied["p_value"] == 1.0 and tied["n_nonzero"] == 9
    ten = stats.wilcoxon_abs_errors(list(range(1, 11)), [0] * 10, min_nonzero=10)
    assert ten["statistic"] == 0.0 and ten["p_value"] == pytest.approx(2 / 2 ** 10)


def test_wilson_with_the_papers_z_of_1_96():
    # closed form with z = 1.96 for 7/9: centre (7/9 + 1.96^2/18) / (1 + 1.96^2/9) = 0.694729...,
    # half-width 1.96 * sqrt(7/9 * 2/9 / 9 + 1.96^2 / 324) / (1 + 1.96^2/9) = 0.242096... -> 45.2583 .. 93.6776 %
    low, high = stats.wilson_interval(7, 9, z=stats.PAPER_WILSON_Z)
    assert (100 * low, 100 * high) == pytest.approx((45.25833, 93.67762), abs=1e-5)
    exact_low, _ = stats.wilson_interval(7, 9)
    assert 0 < exact_low - low < 1e-5          # z = 1.959964 gives a slightly narrower interval
    assert stats.accuracy_summary(7, 9, z=1.96)["ci_low"] == pytest.approx(100 * low)
