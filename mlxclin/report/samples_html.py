"""Per-sample pages for error review: every item × run × effort of one run directory, with the model's final
answer, how it was parsed and scored, and its reasoning (live runs) folded away.

One page per run directory, beside report.html and linked from it, so the main report stays small. A checkbox
(pure CSS, no script) hides everything but the items to review: choice items the majority got wrong, judge items
whose consensus is a point or more away from the experts.
"""

from html import escape

from mlxclin.report import fmt
from mlxclin.report.html import page
from mlxclin.report.paired import choice_outcomes, judge_outcomes

REVIEW_JUDGE_ERROR = 1.0   # points on the 1-5 scale

EXTRA_STYLE = """<style>
#only-review:checked ~ div tr.ok { display: none; }
tr.review td:first-child { border-left: 4px solid #b00020; }
td.text { white-space: pre-wrap; max-width: 520px; min-width: 160px; }
</style>"""

_TIMING = (("prompt_tokens", "prompt tok", 0), ("completion_tokens", "completion tok", 0),
           ("reasoning_tokens", "reasoning tok", 0), ("ttft_s", "TTFT s", 2), ("decode_tps", "decode tok/s", 1),
           ("latency_s", "latency s", 2), ("peak_memory_gb", "peak GB", 2))


def _review_keys(row) -> set:
    """(subset, item id) of the items worth a look."""
    if row.is_choice:
        return {key for key, ok in choice_outcomes(row).items() if not ok}
    return {(subset, item_id) for subset, items in judge_outcomes(row).items()
            for item_id, (consensus, gold) in items.items() if abs(consensus - gold) >= REVIEW_JUDGE_ERROR}


def _verdict(sample) -> str:
    if "correct" in sample:
        return "correct" if sample.get("correct") else "wrong"
    return fmt.num(sample.get("score"), 1) if sample.get("score") is not None else "unparsed"


def _timing(sample) -> str:
    parts = [f"{label} {sample[key]:.{digits}f}" for key, label, digits in _TIMING
             if isinstance(sample.get(key), (int, float))]
    return ", ".join(parts) or fmt.MISSING


def _sample_row(sample, review: set) -> str:
    key = (sample.get("subset", ""), str(sample.get("item_id")))
    css = "review" if key in review else "ok"
    reasoning = sample.get("reasoning") or ""
    reasoning_cell = (f"<details><summary>{len(reasoning.split())} words</summary>{escape(reasoning)}</details>"
                      if reasoning else fmt.MISSING)
    raw = sample.get("raw") or ""
    raw_cell = (f"<details><summary>raw</summary>{escape(raw)}</details>"
                if raw and raw != sample.get("final") else "")
    cells = [escape(str(sample.get("item_id"))), escape(sample.get("subset") or ""), escape(str(sample.get("effort"))),
             str(sample.get("run")), escape(str(sample.get("gold"))), escape(str(sample.get("prediction"))),
             escape(str(sample.get("match_type"))), _verdict(sample)]
    text_cells = [escape(sample.get("final") or "") + raw_cell, reasoning_cell,
                  escape(_timing(sample)), escape(sample.get("error") or "")]
    return (f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in cells)
            + "".join(f'<td class="text">{c}</td>' for c in text_cells) + "</tr>")


def samples_page(run, rows: list) -> str:
    """rows: the report rows of this run (one per effort), which carry the effort filter and labels."""
    head = ["Item", "Subset", "Effort", "Run", "Gold", "Prediction", "Match", "Correct / score", "Final answer",
            "Reasoning", "Tokens and timing", "Error"]
    body = [EXTRA_STYLE, f"<h1>Samples: {escape(run.name)}</h1>",
            f"<p>{escape(run.task)} · {escape(run.model)} · backend {escape(run.backend)} · "
            f"{escape(str(run.path))}</p>",
            '<p><a href="../report.html">back to the report</a></p>',
            '<input type="checkbox" id="only-review"> <label for="only-review">show only items to review (majority '
            f'wrong; judge: consensus ≥ {REVIEW_JUDGE_ERROR:g} point from the experts)</label>']
    for row in rows:
        review = _review_keys(row)
        samples = [s for s in run.samples() if s.get("effort", row.sample_effort) == row.sample_effort]
        body.append(f"<div><h2>{escape(row.label)} — {len(samples)} samples, {len(review)} item(s) to review</h2>")
        body.append('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
                    + "</tr></thead><tbody>")
        body += [_sample_row(s, review) for s in samples]
        body.append("</tbody></table></div></div>")
    return page(f"Samples: {run.name}", "\n".join(body))
