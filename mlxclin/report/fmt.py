"""Number formatting shared by tables, the terminal comparison and plots (one place decides the rounding).

Percentages get one decimal (as the paper prints them), judge errors three; a missing value is an en dash so an
empty cell is never mistaken for zero.
"""

MISSING = "–"


def num(value, digits: int = 1) -> str:
    if value is None:
        return MISSING
    return f"{value:.{digits}f}"


def pct_ci(block) -> str:
    """"89.4 (84.4-92.9)" from an accuracy block; the CI is left out when the block has none."""
    if not block or block.get("pct") is None:
        return MISSING
    if block.get("ci_low") is None or block.get("ci_high") is None:
        return num(block["pct"])
    return f"{block['pct']:.1f} ({block['ci_low']:.1f}-{block['ci_high']:.1f})"


def pct_count(block) -> str:
    """"87.2 (41/47)": a group cell of the paper's tables."""
    if not block or block.get("pct") is None:
        return MISSING
    if block.get("correct") is None or block.get("n") is None:
        return num(block["pct"])
    return f"{block['pct']:.1f} ({block['correct']}/{block['n']})"


def count(block) -> str:
    if not block or block.get("correct") is None or block.get("n") is None:
        return MISSING
    return f"{block['correct']}/{block['n']}"


def median_iqr(block) -> str:
    """"0.333 (0.000 to 0.667)": median error with its interquartile range."""
    if not block or block.get("median_error") is None:
        return MISSING
    if block.get("iqr_low") is None or block.get("iqr_high") is None:
        return num(block["median_error"], 3)
    return f"{block['median_error']:.3f} ({block['iqr_low']:.3f} to {block['iqr_high']:.3f})"


def p_value(p) -> str:
    if p is None:
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def gigabytes(n_bytes) -> str:
    if not n_bytes:
        return MISSING
    return f"{n_bytes / 1e9:.1f}" if n_bytes >= 1e9 else f"{n_bytes / 1e9:.2f}"   # a toy model is 0.08 GB


def p50_p95(block) -> str:
    if not isinstance(block, dict) or block.get("p50") is None:
        return MISSING
    return f"{block['p50']:.2f} / {num(block.get('p95'), 2)}"


def p50(block) -> str:
    return num(block.get("p50"), 2) if isinstance(block, dict) else MISSING
