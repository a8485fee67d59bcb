"""Report figures (matplotlib, Agg backend), each saved as PNG and SVG.

The functions here draw plain data (labels, numbers) prepared by figures.py, so they can run in worker processes
that never load the statistics stack, and matplotlib is imported on first use so that `mlxclin report --format
csv` and the CLI's help stay fast.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

EFFORTS = ("low", "medium", "high")


@dataclass
class Plot:
    key: str
    title: str
    png: Optional[Path] = None     # None when skipped
    svg: Optional[Path] = None
    note: str = ""


def load_matplotlib():
    import matplotlib
    matplotlib.use("Agg")            # files only: never a window, works without a display
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def overlapping_labels(fig) -> list:
    """(kind, text a, text b) for every two tick labels of one axis, or two point labels of one panel, whose
    drawn extents overlap. Horizontal or vertical text only (rotated text has no tight axis-aligned box)."""
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        groups = (("x tick", ax.get_xticklabels()), ("y tick", ax.get_yticklabels()), ("point label", ax.texts))
        for kind, texts in groups:
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text()]
            found += [(kind, a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
                      if box_a.overlaps(box_b)]
    return found


def _ticks_overlap(labels, renderer) -> bool:
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _separate_ticks(fig, ax, axis, renderer) -> None:
    """Category names: turned upright (x) and, if still crowded, more room; numbers: fewer ticks."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    for _ in range(6):
        labels = axis.get_ticklabels()
        if not _ticks_overlap(labels, renderer):
            return
        if not isinstance(axis.get_major_locator(), FixedLocator):
            axis.set_major_locator(MaxNLocator(nbins=max(2, len(axis.get_majorticklocs()) // 2)))
        elif axis is ax.xaxis and any(t.get_rotation() != 90 for t in labels):
            for t in labels:
                t.set_rotation(90)
                t.set_horizontalalignment("center")
        elif axis is ax.xaxis:
            fig.set_figwidth(fig.get_figwidth() * 1.3)
        else:
            fig.set_figheight(fig.get_figheight() * 1.3)
        fig.draw_without_rendering()


def _separate_point_labels(fig, ax, renderer) -> None:
    """Point labels that collide are moved apart: in the upper half of a panel downwards, in the lower half
    upwards, so a stack of labels grows into the panel rather than over its axis."""
    middle = (ax.bbox.y0 + ax.bbox.y1) / 2
    upper = sorted((t for t in ax.texts if t.get_window_extent(renderer).y0 >= middle),
                   key=lambda t: -t.get_window_extent(renderer).y1)
    lower = sorted((t for t in ax.texts if t.get_window_extent(renderer).y0 < middle),
                   key=lambda t: t.get_window_extent(renderer).y0)
    placed = []
    for texts, direction in ((upper, -1), (lower, 1)):
        for text in texts:
            box = text.get_window_extent(renderer)
            for _ in range(len(ax.texts) + 1):
                hits = [other for other in placed if box.overlaps(other)]
                if not hits:
                    break
                gap = (box.y1 - min(o.y0 for o in hits)) if direction < 0 else (max(o.y1 for o in hits) - box.y0)
                dx, dy = text.xyann
                text.xyann = (dx, dy + direction * (gap + 1) * 72 / fig.dpi)
                box = text.get_window_extent(renderer)
            placed.append(box)


def _declutter(fig) -> None:
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            _separate_ticks(fig, ax, axis, renderer)
        _separate_point_labels(fig, ax, renderer)


def _save(fig, out_dir: Path, key: str, title: str, note: str = "") -> Plot:
    plt = load_matplotlib()
    _declutter(fig)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{key}.png", out_dir / f"{key}.svg"
    # One tight bounding box for both files: bbox_inches="tight" would lay the figure out again for each format,
    # and drawing is most of a report's time.
    bbox = fig.get_tightbbox().padded(0.1)
    fig.savefig(png, dpi=100, bbox_inches=bbox)
    fig.savefig(svg, bbox_inches=bbox)
    plt.close(fig)
    return Plot(key, title, png, svg, note)


def _ylabel(task: str) -> str:
    return "judge MAE vs experts (lower is better)" if task == "judge" else "accuracy % (majority of runs)"


def _errorbar(lo, y, hi):
    # max(0, ...): a Wilson bound of 0 % can come back as 1e-17 above the estimate, which matplotlib refuses.
    return [[max(0.0, y - lo)], [max(0.0, hi - y)]] if lo is not None and hi is not None else None


def perf_scatter(panels: dict, out_dir: Path, xlabel: str, key: str, title: str, skipped: str) -> Plot:
    """panels: task -> [(row label, x, [(series, y, ci_low, ci_high)])]; one point per model × effort."""
    if not panels:
        return Plot(key, title, note=skipped)
    plt = load_matplotlib()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), squeeze=False)
    for ax, (task, points) in zip(axes[0], panels.items()):
        xs = [x for _, x, _ in points]
        middle = (min(xs) + max(xs)) / 2
        for label, x, series in points:
            for name, y, lo, hi in series:
                ax.errorbar([x], [y], yerr=_errorbar(lo, y, hi), fmt="o", capsize=3)
                # right of the point in the left half, left of it in the right half: labels stay in the panel
                right = x <= middle
                ax.annotate(label + (f" ({name})" if task == "judge" else ""), (x, y), fontsize=7,
                            xytext=(4 if right else -4, 4), textcoords="offset points",
                            ha="left" if right else "right")
        ax.set_title(task)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_ylabel(task))
    fig.suptitle(title, y=1.04)
    return _save(fig, out_dir, key, title)


def group_heatmap(task: str, labels: list, groups: list, values: list, out_dir: Path) -> Plot:
    """Models × groups; values[i][j] = accuracy % of model i in group j (None when absent)."""
    key, title = f"{task}_groups_heatmap", f"{task}: accuracy % by group"
    if not labels:
        return Plot(key, title, note="skipped: no measured run with group results")
    plt = load_matplotlib()
    import numpy as np
    matrix = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(groups) + 2.5), 0.42 * len(labels) + 2.2))
    image = ax.imshow(matrix, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(groups)), groups, rotation=90, ha="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is not None:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="accuracy %")
    ax.set_title(title)
    return _save(fig, out_dir, key, title)


def judge_distributions(data: dict, skipped: str, out_dir: Path) -> Plot:
    """data: subset -> [(row label, [per-item error])]; box plots, one panel per subset."""
    key, title = "judge_error_distributions", "judge: error distribution (consensus − expert score)"
    if not data:
        return Plot(key, title, note=skipped)
    plt = load_matplotlib()
    width = max(4.5, 0.9 * max(len(v) for v in data.values()) + 1.5)
    fig, axes = plt.subplots(1, len(data), figsize=(width * len(data), 4.0), squeeze=False, sharey=True)
    for ax, (subset, series) in zip(axes[0], sorted(data.items())):
        ax.boxplot([errors for _, errors in series], showmeans=True)
        ax.set_xticks(range(1, len(series) + 1), [label for label, _ in series], rotation=90, ha="center",
                      fontsize=8)
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(subset)
        ax.set_ylabel("error (points on the 1-5 scale)")
    fig.suptitle(title, y=1.04)
    return _save(fig, out_dir, key, title, "Box: interquartile range with median line; triangle: mean.")


def effort_plot(panels: dict, out_dir: Path) -> Plot:
    """panels: task -> {line label: [(effort index, y, ci_low, ci_high)]}: score by reasoning effort."""
    key, title = "accuracy_by_effort", "score by reasoning effort"
    if not panels:
        return Plot(key, title, note="skipped: no model was evaluated at more than one reasoning effort")
    plt = load_matplotlib()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (task, lines) in zip(axes[0], panels.items()):
        for label, points in lines.items():
            errs = None
            if all(p[2] is not None and p[3] is not None for p in points):
                errs = [[max(0.0, p[1] - p[2]) for p in points], [max(0.0, p[3] - p[1]) for p in points]]
            ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=errs, marker="o", capsize=3,
                        label=label)
        ax.set_xticks(range(len(EFFORTS)), EFFORTS)
        ax.set_title(task)
        ax.set_ylabel(_ylabel(task))
        ax.legend(fontsize=7)
    fig.suptitle(title, y=1.04)
    return _save(fig, out_dir, key, title)
