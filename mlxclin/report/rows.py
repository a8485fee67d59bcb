"""Result rows: one per model × effort, from a run directory (measured) or a baselines file (reference).

Every table and plot of a report is drawn from these rows, so measured and published numbers are laid out by the
same code and can sit side by side.
"""

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Optional

from mlxclin.report.rundirs import UNKNOWN_EFFORT, RunDir

EFFORT_ORDER = ("low", "medium", "high")
# The released prediction columns name gpt-oss efforts as "oss-20b (H) v1": a replayed run of them gets the label
# "oss-20b (H)" and no recorded effort, so the effort (and the model family) are read back from the label.
_EFFORT_SUFFIX = re.compile(r"\s*\(([LMH])\)\s*$")
_SUFFIX_EFFORT = {"L": "low", "M": "medium", "H": "high"}


@dataclass
class ResultRow:
    task: str
    model: str                     # model label as the run or baseline names it
    effort: str                    # low / medium / high / unknown
    kind: str                      # "measured · replay", "measured · mlx", "published · paper v2", ...
    source: str                    # run directory, or the citation of a published number
    metrics: dict                  # a metrics.json contract block (partial for baselines)
    perf: Optional[dict] = None    # perf.json efforts[effort] (live runs)
    run: Optional[RunDir] = None   # None for baseline rows
    sample_effort: str = ""        # the effort value the samples of this row carry
    effort_from_label: bool = False
    family: str = ""               # model without effort suffix (groups the effort comparison)
    label: str = ""                # unique display name within a report
    extra: dict = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.run is not None

    @property
    def is_choice(self) -> bool:
        return self.task != "judge"

    def run_info(self, key: str):
        return self.run.info(key) if self.run else self.extra.get(key)


def split_effort(model: str, effort: str) -> tuple:
    """(family, effort, read_from_label): "oss-20b (H)" with no recorded effort -> ("oss-20b", "high", True)."""
    match = _EFFORT_SUFFIX.search(model)
    if match:
        family = model[:match.start()]
        if effort in ("", UNKNOWN_EFFORT):
            return family, _SUFFIX_EFFORT[match.group(1)], True
        return family, effort, False
    return model, effort or UNKNOWN_EFFORT, False


def short_name(model: str) -> str:
    """A live run names its model by path (/models/gpt-oss-20b-mxfp4): the folder name is what tells models apart
    in a table; the full path stays in the runs table."""
    return PurePath(model).name if "/" in model else model


LORA = "LoRA"


def adapter_of(run: RunDir) -> str:
    """The LoRA adapter a run evaluated (config.json "adapter_path"), "" for the base model."""
    return str(run.config.get("adapter_path") or "")


def family_settings_label(run: RunDir, effort: str) -> str:
    """"Qwen3.5 · thinking on" for a Qwen3.5 / Gemma 4 run at this effort (config.json "model_family"), else ""."""
    from mlxclin.models.families import settings_label

    return settings_label((run.config.get("model_family") or {}).get(effort))


def rows_from_run(run: RunDir) -> list:
    rows = []
    adapter = adapter_of(run)
    for effort, block in run.effort_blocks().items():
        family, shown_effort, from_label = split_effort(short_name(run.model), effort)
        extra = {"adapter": adapter} if adapter else {}
        family_label = family_settings_label(run, effort)
        if family_label:
            extra["model_family"] = family_label
        rows.append(ResultRow(
            task=run.task, model=run.model, effort=shown_effort,
            kind=f"measured · {run.backend}" + (f" + {LORA}" if adapter else ""),
            source=str(run.path), metrics=block, perf=run.perf_for(effort), run=run, sample_effort=effort,
            effort_from_label=from_label, family=f"{family} + {LORA}" if adapter else family, extra=extra))
    return rows


def assign_labels(rows: list) -> None:
    """Unique, readable labels: the model, plus the effort when the run recorded it (a live sweep), plus the run
    directory's name when two rows would still look the same (the same model run twice)."""
    for row in rows:
        show_effort = row.effort not in (UNKNOWN_EFFORT, "") and not row.effort_from_label
        name = short_name(row.model) if row.measured else row.model
        if row.extra.get("adapter"):   # a fine-tuned model is never shown under its base model's name alone
            name = f"{name} + {LORA} {PurePath(row.extra['adapter']).name}"
        if row.extra.get("model_family"):  # Qwen3.5 / Gemma 4: a checkpoint folder name need not say which
            name = f"{name} · {row.extra['model_family']}"
        row.label = f"{name} · {row.effort}" if show_effort else name
        if not row.measured:
            row.label = f"{row.label} ({row.extra.get('version') or 'reference'})"
    counts = {}
    for row in rows:
        counts[(row.task, row.label)] = counts.get((row.task, row.label), 0) + 1
    for row in rows:
        if counts[(row.task, row.label)] > 1 and row.run is not None:
            row.label = f"{row.label} [{row.run.name}]"


def effort_rank(effort: str) -> int:
    return EFFORT_ORDER.index(effort) if effort in EFFORT_ORDER else len(EFFORT_ORDER)


def device_text(device) -> str:
    """"Apple M3 Max · 64 GB · macOS 15.1" from perf.json/config.json "device"; "" when unknown."""
    if not isinstance(device, dict):
        return str(device or "")
    parts = [device.get("chip") or device.get("cpu") or ""]
    if device.get("memory_gb"):
        parts.append(f"{float(device['memory_gb']):g} GB")
    if device.get("os"):
        parts.append(str(device["os"]))
    return " · ".join(p for p in parts if p)


def rows_by_task(rows: list) -> dict:
    """task -> rows, tasks in a fixed order (the paper's: generalist, specialist, judge), others after."""
    order = {"eurorad": 0, "ophtho": 1, "judge": 2}
    tasks = sorted({r.task for r in rows}, key=lambda t: (order.get(t, 9), t))
    return {t: [r for r in rows if r.task == t] for t in tasks}
