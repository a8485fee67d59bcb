"""The report's tables as plain data (title, columns, rows of text cells), written out as Markdown, CSV and HTML.

Cells are formatted once here (mlxclin.report.fmt), so the CSV, the Markdown and the HTML show the same numbers;
the unrounded values stay in report.json.
"""

from dataclasses import dataclass, field

from mlxclin.report import fmt
from mlxclin.report.rows import device_text, effort_rank

TASK_TITLES = {"eurorad": "Eurorad (LLM-as-a-Generalist)", "ophtho": "Ophthalmology (LLM-as-a-Specialist)",
               "judge": "Clinical judge (LLM-as-a-Clinical-Judge)"}
OVERALL = "Overall"


@dataclass
class Table:
    key: str                     # file name stem, e.g. "eurorad_groups"
    title: str
    columns: list
    rows: list                   # lists of str, one per column
    notes: list = field(default_factory=list)
    wrap: tuple = ()             # columns whose long text may wrap in HTML (names, sources), so wide tables fit


# --- speed, memory, cost: the columns the paper never measured --------------------------------------------------

SUMMARY_WRAP = ("Model", "Kind", "Per-run %", "Median error (IQR)", "Device", "Source")
PERF_COLUMNS = ["Decode tok/s", "TTFT p50 s", "Latency p50 / p95 s", "Peak mem GB", "Model size GB",
                "$ / 1,000 cases", "Device"]


def perf_cells(row) -> list:
    perf = row.perf or {}
    cost = perf.get("cost_per_1000_items_usd")
    if cost is not None:
        cost_text = f"{cost:.2f}"
    elif row.measured and row.run.backend == "mlx":
        cost_text = "local"      # on-device runs have no per-case price: the machine is already paid for
    else:
        cost_text = fmt.MISSING
    return [fmt.num(perf.get("decode_tps")), fmt.p50(perf.get("ttft_s")), fmt.p50_p95(perf.get("latency_s")),
            fmt.num(perf.get("peak_memory_gb"), 2), fmt.gigabytes(row.run_info("model_size_bytes")), cost_text,
            device_text(row.run_info("device")) or fmt.MISSING]


def _perf_note(rows) -> list:
    if any(r.measured and not r.perf for r in rows):
        return ["Speed, memory and cost columns come from perf.json, which live runs write; replayed runs have "
                "none (–)."]
    return []


def _reference_note(rows) -> list:
    notes = []
    if any(r.extra.get("published") for r in rows):
        notes.append("'published' rows: numbers printed in the paper (mlxclin/configs/baselines, with their source); they "
                     "carry only the values the source gives.")
    if any(not r.measured and not r.extra.get("published") for r in rows):
        notes.append("'measured · replay · reference' rows: replays of the paper's released predictions "
                     "(mlxclin/configs/baselines/paper_replay.json), not the paper's printed numbers and not your runs.")
    return notes


def _effort_note(rows) -> list:
    if any(r.effort_from_label and r.measured for r in rows):
        return ["Replayed runs record no reasoning effort; where the model label ends in (L), (M) or (H), as in the "
                "released prediction columns, the effort is read from it."]
    return []


# --- per-task summary --------------------------------------------------------------------------------------------

def choice_summary(task: str, rows: list) -> Table:
    k = max([r.metrics.get("runs") or 0 for r in rows] + [0])
    columns = ["Model", "Effort", "Kind", "Items", "Runs", "Accuracy % (95% CI)", "Correct",
               "pass@k %" if not k else f"pass@{k} %", "Per-run %", "Fleiss κ"] + PERF_COLUMNS + ["Source"]
    body = []
    for r in rows:
        m = r.metrics
        per_run = m.get("per_run_accuracy") or []
        body.append([r.label, r.effort, r.kind, str(m.get("n_items") or (m.get("accuracy") or {}).get("n") or
                                                    fmt.MISSING),
                     str(m.get("runs") or fmt.MISSING), fmt.pct_ci(m.get("accuracy")), fmt.count(m.get("accuracy")),
                     fmt.num((m.get("pass_at_k") or {}).get("pct")),
                     ", ".join(fmt.num(p) for p in per_run) or fmt.MISSING, fmt.num(m.get("fleiss_kappa"), 3)]
                    + perf_cells(r) + [r.source])
    notes = ["Accuracy: an item counts as correct when more than half of its runs are (majority vote); Wilson 95 % "
             "CI. pass@k: at least one run correct."] + _perf_note(rows) + _effort_note(rows) + _reference_note(rows)
    return Table(f"{task}_summary", f"{TASK_TITLES.get(task, task)}: accuracy, speed and memory", columns, body,
                 notes, wrap=SUMMARY_WRAP)


def judge_summary(rows: list) -> Table:
    columns = ["Model", "Effort", "Kind", "Subset", "n", "Median error (IQR)", "MAE", "Spearman", "Pearson",
               "ICC(3,k)", "Unparsed runs"] + PERF_COLUMNS + ["Source"]
    body = []
    for r in rows:
        for subset, m in (r.metrics.get("subsets") or {}).items():
            body.append([r.label, r.effort, r.kind, subset, str(m.get("n", fmt.MISSING)), fmt.median_iqr(m),
                         fmt.num(m.get("mae"), 3), fmt.num(m.get("spearman"), 3), fmt.num(m.get("pearson"), 3),
                         fmt.num(m.get("icc3k"), 3), str(m.get("unparsed_runs", fmt.MISSING))]
                        + perf_cells(r) + [r.source])
    notes = ["Error = consensus (mean of the runs' scores) − expert score; median with 25th-75th percentiles. "
             "MAE, Spearman and Pearson: consensus vs experts."] + _perf_note(rows) + _effort_note(rows) \
        + _reference_note(rows)
    return Table("judge_summary", f"{TASK_TITLES['judge']}: agreement with experts, speed and memory", columns,
                 body, notes, wrap=SUMMARY_WRAP)


# --- paper-style breakdowns --------------------------------------------------------------------------------------

def group_order(rows: list) -> list:
    """Groups in first-seen order of the measured rows' metrics (sorted by the task), then any only baselines
    name."""
    seen = []
    for r in sorted(rows, key=lambda r: not r.measured):
        for g in (r.metrics.get("groups") or {}):
            if g not in seen:
                seen.append(g)
    return seen


def group_table(task: str, rows: list) -> Table:
    """Groups × models, like the paper's Table 1 (Eurorad subspecialties) and Table 2 (ophthalmology Type ×
    Topic). Cells: majority accuracy % (correct/n)."""
    groups = group_order(rows)
    body = [[OVERALL] + [fmt.pct_count(r.metrics.get("accuracy")) for r in rows]]
    body += [[g] + [fmt.pct_count((r.metrics.get("groups") or {}).get(g)) for r in rows] for g in groups]
    body.append(["pass@k (any run correct)"] + [fmt.pct_count(r.metrics.get("pass_at_k")) for r in rows])
    title = {"eurorad": "Eurorad accuracy by subspecialty group (as in the paper's Table 1)",
             "ophtho": "Ophthalmology accuracy by question type × topic (as in the paper's Table 2)"}
    notes = ["Cells: majority-of-runs accuracy % (correct/n); – where a source gives no value."]
    if task == "eurorad":
        notes.append("'Others' pools Genital (female) imaging and Interventional radiology, as the paper does.")
    return Table(f"{task}_groups", title.get(task, f"{task} accuracy by group"), ["Group"] + [r.label for r in rows],
                 body, notes)


def judge_breakdown(rows: list, by: str) -> Table:
    """Specialty (the paper's Table 3) or case frequency × models, per subset. Cells: median error (IQR)."""
    key = "groups" if by == "specialty" else "frequency"
    body = []
    subsets = []
    for r in rows:
        for s in (r.metrics.get("subsets") or {}):
            if s not in subsets:
                subsets.append(s)
    for subset in subsets:
        blocks = [(r.metrics.get("subsets") or {}).get(subset) or {} for r in rows]
        names = []
        for b in blocks:
            names += [n for n in (b.get(key) or {}) if n not in names]
        body.append([subset, OVERALL] + [fmt.median_iqr(b) for b in blocks])
        body += [[subset, n] + [fmt.median_iqr((b.get(key) or {}).get(n)) for b in blocks] for n in names]
    title = ("Judge error by clinical specialty (as in the paper's Table 3)" if by == "specialty"
             else "Judge error by case frequency")
    return Table(f"judge_{key}", title, ["Subset", by.capitalize()] + [r.label for r in rows], body,
                 ["Cells: median error (25th to 75th percentile), consensus − expert score."])


def effort_table(task: str, rows: list):
    """Reasoning effort comparison: every model family seen at two or more efforts. None when there is none."""
    families = {}
    for r in rows:
        families.setdefault(r.family, set()).add(r.effort)
    swept = [r for r in rows if len(families[r.family]) > 1]
    if not swept:
        return None
    swept.sort(key=lambda r: (r.family, effort_rank(r.effort), not r.measured))
    perf_cols = ["Reasoning tokens / item", "Latency p50 s", "Decode tok/s"]
    body = []
    if task == "judge":
        columns = ["Model", "Effort", "Kind", "Subset", "Median error (IQR)", "MAE", "Spearman"] + perf_cols
        for r in swept:
            for subset, m in (r.metrics.get("subsets") or {}).items():
                body.append([r.family, r.effort, r.kind, subset, fmt.median_iqr(m), fmt.num(m.get("mae"), 3),
                             fmt.num(m.get("spearman"), 3)] + _effort_perf(r))
    else:
        columns = ["Model", "Effort", "Kind", "Accuracy % (95% CI)", "pass@k %"] + perf_cols
        for r in swept:
            body.append([r.family, r.effort, r.kind, fmt.pct_ci(r.metrics.get("accuracy")),
                         fmt.num((r.metrics.get("pass_at_k") or {}).get("pct"))] + _effort_perf(r))
    return Table(f"{task}_effort", f"{TASK_TITLES.get(task, task)}: reasoning effort", columns, body,
                 _effort_note(swept))


def _effort_perf(r) -> list:
    perf = r.perf or {}
    return [fmt.num(perf.get("reasoning_tokens_mean"), 0), fmt.p50(perf.get("latency_s")),
            fmt.num(perf.get("decode_tps"))]


# --- significance, checks, run inventory -------------------------------------------------------------------------

def pairs_table(task: str, results: list, notes: list) -> Table:
    if task == "judge":
        columns = ["Subset", "Model A", "Model B", "Items", "MAE A", "MAE B", "Wilcoxon W", "p", "p (Holm)",
                   "Significant", "Weighted κ"]
        body = [[r.subset, r.a, r.b, str(r.n), fmt.num(r.details["mae_a"], 3), fmt.num(r.details["mae_b"], 3),
                 fmt.num(r.statistic, 1), fmt.p_value(r.p_value), fmt.p_value(r.p_holm),
                 "yes" if r.significant else "no", fmt.num(r.details["weighted_kappa"], 3)] for r in results]
        what = ("Wilcoxon signed-rank on paired absolute errors; linear-weighted Cohen's κ between the consensus "
                "scores (rounded to 0.5).")
    else:
        columns = ["Model A", "Model B", "Items", "Accuracy A %", "Accuracy B %", "A right, B wrong",
                   "B right, A wrong", "McNemar χ²", "p", "p (Holm)", "Significant"]
        body = [[r.a, r.b, str(r.n), fmt.num(r.details["acc_a"]), fmt.num(r.details["acc_b"]),
                 str(r.details["a_only"]), str(r.details["b_only"]), fmt.num(r.statistic, 2),
                 fmt.p_value(r.p_value), fmt.p_value(r.p_holm), "yes" if r.significant else "no"] for r in results]
        what = "McNemar's test with continuity correction on per-item majority correctness."
    return Table(f"{task}_paired", f"{TASK_TITLES.get(task, task)}: paired comparisons", columns, body,
                 [what + f" Holm correction across the {len(results)} test(s) in this table; significant at "
                         f"α = 0.05 after correction."] + notes)


def checks_table(checks: list) -> Table:
    body = [[c.task, c.published, c.measured, c.metric, str(c.published_value),
             fmt.MISSING if c.measured_value is None else (f"{c.measured_value:.4g}"
                                                            if isinstance(c.measured_value, float)
                                                            else str(c.measured_value)),
             "yes" if c.agrees else "NO"] for c in checks]
    agree = sum(c.agrees for c in checks)
    return Table("published_checks", "Published values reproduced by replay",
                 ["Task", "Published", "Measured run", "Metric", "Published value", "Measured value", "Agrees"],
                 body, [f"{agree} of {len(checks)} published values agree within their printed rounding."])


def runs_table(runs: list) -> Table:
    body = []
    for run in runs:
        cfg = run.config
        data = "; ".join(f"{s or run.task}: {h[:12]}" for s, h in run.data_hashes().items()) or fmt.MISSING
        body.append([run.name, run.task, run.model, run.backend, ", ".join(run.effort_blocks()),
                     str(run.metrics.get("runs", fmt.MISSING)), str(cfg.get("model_path") or fmt.MISSING),
                     device_text(run.info("device")) or fmt.MISSING, data, str(run.path)])
    return Table("runs", "Runs in this report",
                 ["Run", "Task", "Model", "Backend", "Efforts", "Runs", "Model path", "Device", "Data sha256",
                  "Path"], body)
