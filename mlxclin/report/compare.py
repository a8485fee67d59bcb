"""`mlxclin compare RUN_A RUN_B`: the paired comparison of two run directories, as terminal text.

Same statistics as the report (mlxclin.report.paired): McNemar for choice tasks, Wilcoxon on absolute errors and
weighted κ for the judge, Holm across the tests printed.
"""

from mlxclin.errors import MlxclinError
from mlxclin.report import fmt
from mlxclin.report.paired import comparable, compare_rows, holm
from mlxclin.report.rows import adapter_of, assign_labels, rows_from_run
from mlxclin.report.rundirs import load_run


def pair_rows(run_a, run_b, effort=None) -> list:
    """[(row_a, row_b)]: the same effort on both sides where they share efforts, else every combination."""
    if run_a.path.resolve() == run_b.path.resolve():
        raise MlxclinError(f"{run_a.path} is given twice; compare needs two different run directories")
    if run_a.task != run_b.task:
        raise MlxclinError(f"cannot compare a {run_a.task} run ({run_a.path}) with a {run_b.task} run "
                           f"({run_b.path}); both runs must be of the same task")
    rows_a, rows_b = rows_from_run(run_a), rows_from_run(run_b)
    assign_labels(rows_a + rows_b)
    if effort is not None:
        rows_a, rows_b = (_select_effort(run, rows, effort) for run, rows in ((run_a, rows_a), (run_b, rows_b)))
    shared = [e for e in dict.fromkeys(r.effort for r in rows_a) if e in {r.effort for r in rows_b}]
    if shared:
        return [(a, b) for e in shared for a in rows_a if a.effort == e for b in rows_b if b.effort == e]
    return [(a, b) for a in rows_a for b in rows_b]


def _select_effort(run, rows: list, effort: str) -> list:
    """The rows at `effort`; a run with a single effort (a replay: unknown) is kept whole, so a sweep can be set
    against it one effort at a time."""
    chosen = [r for r in rows if effort in (r.effort, r.sample_effort)]
    if chosen or len(rows) == 1:
        return chosen or rows
    raise MlxclinError(f"{run.path} has no effort {effort!r}; it has {', '.join(r.effort for r in rows)}")


def _side_by_side(lines: list, name: str, a: str, b: str, width: int = 30) -> None:
    lines.append(f"  {name:<26}{a:<{width}}{b}")


def _choice_block(a, b, lines: list) -> None:
    ma, mb = a.metrics, b.metrics
    k = ma.get("runs") or "k"
    _side_by_side(lines, "accuracy % (95% CI)", fmt.pct_ci(ma.get("accuracy")), fmt.pct_ci(mb.get("accuracy")))
    _side_by_side(lines, "correct", fmt.count(ma.get("accuracy")), fmt.count(mb.get("accuracy")))
    _side_by_side(lines, f"pass@{k} %", fmt.num((ma.get("pass_at_k") or {}).get("pct")),
                  fmt.num((mb.get("pass_at_k") or {}).get("pct")))
    groups = [g for g in (ma.get("groups") or {}) if g in (mb.get("groups") or {})]
    if groups:
        lines.append(f"  {'by group':<26}{'A':<30}{'B':<30}B − A")
        for g in groups:
            ga, gb = ma["groups"][g], mb["groups"][g]
            delta = (f"{gb['pct'] - ga['pct']:+.1f}" if ga.get("pct") is not None and gb.get("pct") is not None
                     else fmt.MISSING)
            lines.append(f"    {g[:40]:<24}{fmt.pct_count(ga):<30}{fmt.pct_count(gb):<30}{delta}")


def _judge_block(a, b, lines: list) -> None:
    for subset in [s for s in (a.metrics.get("subsets") or {}) if s in (b.metrics.get("subsets") or {})]:
        sa, sb = a.metrics["subsets"][subset], b.metrics["subsets"][subset]
        lines.append(f"  {subset}")
        _side_by_side(lines, "  median error (IQR)", fmt.median_iqr(sa), fmt.median_iqr(sb))
        for key in ("mae", "spearman", "pearson"):
            _side_by_side(lines, f"  {key}", fmt.num(sa.get(key), 3), fmt.num(sb.get(key), 3))


def _perf_block(a, b, lines: list) -> None:
    if not (a.perf or b.perf):
        return
    pa, pb = a.perf or {}, b.perf or {}
    _side_by_side(lines, "decode tok/s", fmt.num(pa.get("decode_tps")), fmt.num(pb.get("decode_tps")))
    _side_by_side(lines, "TTFT p50 s", fmt.p50(pa.get("ttft_s")), fmt.p50(pb.get("ttft_s")))
    _side_by_side(lines, "latency p50 / p95 s", fmt.p50_p95(pa.get("latency_s")), fmt.p50_p95(pb.get("latency_s")))
    _side_by_side(lines, "peak memory GB", fmt.num(pa.get("peak_memory_gb"), 2), fmt.num(pb.get("peak_memory_gb"), 2))


def _test_line(result) -> str:
    verdict = "significant" if result.significant else "not significant"
    holm_text = f"p (Holm) {fmt.p_value(result.p_holm)} → {verdict}"
    if result.test == "McNemar":
        d = result.details
        return (f"  paired on {result.n} items: A right & B wrong {d['a_only']}, B right & A wrong {d['b_only']} · "
                f"McNemar χ² {fmt.num(result.statistic, 2)} · p {fmt.p_value(result.p_value)} · {holm_text}")
    d = result.details
    return (f"  {result.subset}, paired on {result.n} items: |error| A {fmt.num(d['mae_a'], 3)} vs B "
            f"{fmt.num(d['mae_b'], 3)} · Wilcoxon W {fmt.num(result.statistic, 1)} · "
            f"p {fmt.p_value(result.p_value)} · {holm_text} · weighted κ {fmt.num(d['weighted_kappa'], 3)}")


def setting_warnings(pairs: list) -> list:
    """Lines warning that a pair differs in more than the model: reasoning effort or LoRA adapter."""
    lines = []
    for a, b in pairs:
        if a.effort != b.effort:
            lines.append(f"warning: A ran at effort {a.effort}, B at {b.effort}: the difference mixes the model "
                         f"with the reasoning effort")
        adapter_a, adapter_b = adapter_of(a.run), adapter_of(b.run)
        if adapter_a != adapter_b:
            lines.append(f"warning: A uses {'LoRA adapter ' + adapter_a if adapter_a else 'no adapter'}, B "
                         f"{'LoRA adapter ' + adapter_b if adapter_b else 'no adapter'}: the difference includes "
                         f"the fine-tuning")
    return list(dict.fromkeys(lines))


def compare_text(path_a, path_b, effort=None) -> str:
    run_a, run_b = load_run(path_a), load_run(path_b)
    pairs = pair_rows(run_a, run_b, effort)
    reasons = [comparable(a, b) for a, b in pairs]
    if all(reasons):
        raise MlxclinError(f"cannot pair these runs: {reasons[0]}")
    results = {i: compare_rows(a, b) for i, ((a, b), reason) in enumerate(zip(pairs, reasons)) if not reason}
    holm([r for found in results.values() for r in found])
    n_tests = sum(len(v) for v in results.values())
    lines = setting_warnings(pairs)
    for i, (a, b) in enumerate(pairs):
        lines.append(f"{a.task} · A = {a.label} ({a.run.path}) · B = {b.label} ({b.run.path})")
        (_choice_block if a.is_choice else _judge_block)(a, b, lines)
        _perf_block(a, b, lines)
        if reasons[i]:
            lines.append(f"  not paired: {reasons[i]}")
        elif not results[i]:
            lines.append("  not paired: the runs share no items")
        lines += [_test_line(r) for r in results.get(i, [])]
        lines.append("")
    lines.append(f"Holm correction across the {n_tests} paired test(s) above; significant at α = 0.05.")
    return "\n".join(lines)
