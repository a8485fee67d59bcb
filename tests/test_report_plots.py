"""No two tick labels (or point labels) of a report figure overlap, measured on the drawn text extents (issue 11)."""

import pytest

from mlxclin.report import plots

GROUPS = ["Abdominal imaging", "Breast imaging", "Cardiovascular", "Chest imaging", "Head & neck imaging",
          "Musculoskeletal system", "Neuroradiology", "Paediatric radiology", "Uroradiology & genital male imaging",
          "Others"]
# three efforts of one model at nearly the same memory, as a real sweep gives: their labels land on each other
POINTS = [(f"gpt-oss-20b-mxfp4 · {effort}", memory, [("accuracy", acc, acc - 6, acc + 6)])
          for effort, memory, acc in (("low", 12.91, 70.0), ("medium", 12.93, 71.5), ("high", 12.95, 73.0))]
POINTS += [("gpt-oss-120b-mxfp4 · high", 61.2, [("accuracy", 85.0, 80.0, 90.0)]),
           ("qwen3-30b + LoRA eurorad-r16", 17.9, [("accuracy", 78.0, 70.0, 84.0)])]


@pytest.fixture
def kept_figures(monkeypatch):
    """Figures stay open after saving so their text can be measured."""
    plt = plots.load_matplotlib()
    plt.close("all")
    monkeypatch.setattr(plt, "close", lambda *args, **kwargs: None)
    yield plt
    monkeypatch.undo()
    plt.close("all")


def _draw_all(out):
    plots.perf_scatter({"eurorad": POINTS, "judge": [(label, x, [("MAE diagnosis", 0.5 + x / 1000, None, None)])
                                                     for label, x, _ in POINTS]},
                       out, "measured peak memory (GB)", "scatter", "score vs memory", "")
    labels = [f"model {i} with a long descriptive name · high" for i in range(12)]
    plots.group_heatmap("eurorad", labels, GROUPS, [[50.0 + i] * len(GROUPS) for i in range(12)], out)
    plots.judge_distributions({"diagnosis": [(f"gpt-oss-20b-mxfp4 + LoRA adapter-{i} · high", [0.1, 0.2, -0.3])
                                             for i in range(8)]}, "", out)
    plots.effort_plot({"eurorad": {"gpt-oss-20b": [(0, 70.0, 60.0, 80.0), (1, 71.0, 61.0, 81.0),
                                                   (2, 73.0, 63.0, 83.0)]}}, out)


def test_no_two_labels_of_any_report_figure_overlap(kept_figures, tmp_path):
    _draw_all(tmp_path)
    figures = [kept_figures.figure(n) for n in kept_figures.get_fignums()]
    assert len(figures) == 4
    for fig in figures:
        assert plots.overlapping_labels(fig) == [], fig.get_suptitle() or fig.axes[0].get_title()


def test_the_overlap_measure_sees_crowded_labels(kept_figures):
    # Control: the same measure on a figure drawn without the declutter step finds the collisions.
    fig, ax = kept_figures.subplots(figsize=(3, 2))
    ax.set_xticks(range(len(GROUPS)), GROUPS)
    for _, x, [(_, y, _, _)] in POINTS[:3]:
        ax.annotate("a label of some length", (x, y))
    fig.draw_without_rendering()
    kinds = {kind for kind, _, _ in plots.overlapping_labels(fig)}
    assert kinds == {"x tick", "point label"}


def test_the_judge_perf_table_does_not_call_its_error_column_accuracy():
    from mlxclin.evaluation.perf import summary_table

    judge = {"high": {"subsets": {"diagnosis": {"median_error": 0.25}}}}
    head = summary_table(judge, {"high": {}}).splitlines()[0]
    assert "accuracy" not in head and "judge error vs experts" in head
    choice = {"high": {"accuracy": {"pct": 80.0, "ci_low": 70.0, "ci_high": 88.0}}}
    assert "accuracy (95% CI)" in summary_table(choice, {"high": {}}).splitlines()[0]
