"""Scoring protocols: `paper` (the rules of the paper's own scripts) and `mlxclin` (this project's rules where
they differ). A task is built with one (`get_task(name, protocol=...)`) and metrics.json records which.

The differences are listed once, in DIFFERENCES, which the table in docs/reproduce.md and `mlxclin reproduce` report print.
Replaying the released predictions gives the same accuracies, medians and IQRs under both (stored answers are
scored as stored; Wilson bounds differ in the sixth digit); what differs is how live answers are read and the
agreement statistics.
"""

from mlxclin.errors import MlxclinError

PAPER = "paper"
MLXCLIN = "mlxclin"
PROTOCOLS = (PAPER, MLXCLIN)
# `eval` scores live outputs, where mlxclin's rules read answers the paper's rules misread (a verbose "Answer: B",
# a fuzzy match that fits two options); replayed published numbers do not depend on the choice.
DEFAULT_PROTOCOL = MLXCLIN

# (rule, the paper's choice, mlxclin's choice, why mlxclin differs)
DIFFERENCES = (
    ("Wilson 95 % interval", "z = 1.96", "z = 1.959964 (the exact normal quantile, statsmodels)",
     "the exact quantile; the bounds move by ~5e-6, which flips one printed digit of the paper (43.8 vs 43.9)"),
    ("Eurorad: live answer -> option",
     "exact, normalised, difflib close match (cutoff 0.8 raw, then 0.9 normalised); options de-duplicated",
     "exact, normalised, rapidfuzz ratio >= 90 on normalised text; two options >= 90 is no match",
     "difflib's first close match picks one of two near-identical options (Left/Right ...) silently"),
    ("Ophthalmology: answer -> letters",
     "upper-case, whitespace removed, the set of its letters",
     "set of option letters read from letter tokens (\"A, C\", \"Answer: BD\", \"bd\"), never from words",
     "the paper's rule reads \"Answer: B\" as {A, B, E, N, R, S, W}"),
    ("Judge: weighted κ",
     "linear weights by label position over the union of the labels of all compared models; "
     "rounding to 0.5 half-to-even",
     "linear weights by label value over the pair's labels; rounding half up",
     "a distance of 3.0 -> 4.5 counts as three half-points, whatever labels happen to occur"),
    ("Judge: ICC(3,k)", "on the runs' errors (run score - expert score): icc3k_errors",
     "on the runs' scores: icc3k_scores (both are written to metrics.json)",
     "agreement of the runs' scores does not depend on the experts"),
    ("Judge: Holm", "per subset (diagnosis, treatment)", "across all tests of a task",
     "one family of tests per report controls the error rate of everything shown"),
    ("Judge: Wilcoxon", "p = 1 when fewer than 10 non-zero differences", "tested whenever a difference is non-zero",
     "scipy's exact test is valid for small n"),
)


def check_protocol(protocol: str) -> str:
    """The protocol name, or a one-line MlxclinError naming the known ones."""
    if protocol not in PROTOCOLS:
        raise MlxclinError(f"unknown protocol {protocol!r}; choose {' or '.join(PROTOCOLS)}")
    return protocol
