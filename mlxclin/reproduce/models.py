"""Find every model whose predictions a data file holds, and replay it through its task under the paper protocol.

A model is a group of exactly three run columns whose names differ only in a run suffix ("-M1".."-M3", " v1".." v3",
" v2", " v2.1", " v2.2"), per file: nothing here lists today's models, so a new group of columns becomes a new row.
Columns the task reads as item fields are never prediction columns.
"""

import re
from dataclasses import dataclass, field
from typing import Optional

from mlxclin import stats
from mlxclin.backends.base import Completion
from mlxclin.protocol import PAPER
from mlxclin.tasks import get_task

RUNS = 3
# (task, subset) -> local data file name (mlxclin.data.SOURCES)
FILES = {("eurorad", ""): "eurorad_test.csv", ("ophtho", ""): "ophthalmology.csv",
         ("judge", "diagnosis"): "judge_diagnosis.csv", ("judge", "treatment"): "judge_treatment.csv"}
# Columns of the released files that describe the item (beyond what the tasks require).
EXTRA_ITEM_COLUMNS = {"6", "id", "Model", "OriginalDescription", "DiseaseLeak"}
_RUN_SUFFIX = re.compile(r"[\s_-]*[mMvV]\d+(?:\.\d+)?$")
_EFFORT = re.compile(r"\s*\(([LMH])\)\s*")


@dataclass
class ModelResult:
    task: str
    subset: str                  # judge subset, "" otherwise
    file: str                    # local data file name
    name: str                    # the column group's stem, e.g. "oss-20b (H)"
    columns: list
    metrics: dict                # the task's aggregate (paper protocol)
    majority: dict = field(default_factory=dict)    # choice tasks: item id -> correct by majority of runs
    consensus: dict = field(default_factory=dict)   # judge: item id -> (consensus score, expert score)
    source: str = "released predictions"            # or the run directory of a live model

    @property
    def family(self) -> str:
        """The name without its reasoning-effort marker: "oss-20b (H)" -> "oss-20b"."""
        return _EFFORT.sub(" ", self.name).strip()

    @property
    def effort(self) -> Optional[str]:
        found = _EFFORT.search(self.name)
        return found.group(1) if found else None


def column_groups(columns: list, item_columns=()) -> tuple:
    """({stem: [3 columns]} in file order, {stem: [columns]} of the groups skipped for not having 3 runs)."""
    groups = {}
    skip = set(item_columns) | EXTRA_ITEM_COLUMNS
    for column in columns:
        if column in skip or not column.strip() or not _RUN_SUFFIX.search(column):
            continue
        groups.setdefault(_RUN_SUFFIX.sub("", column), []).append(column)
    kept = {k: v for k, v in groups.items() if len(v) == RUNS}
    return kept, {k: v for k, v in groups.items() if len(v) != RUNS}


def replay_group(task, items: list, name: str, columns: list, file: str) -> ModelResult:
    """Score the stored answers of `columns` (one per run) like live answers, then aggregate."""
    samples = []
    for item in items:
        for run, column in enumerate(columns):
            answer = item.row.get(column)
            completion = Completion(id=f"{item.id}:{run}", text=answer or "", final=answer or "", format="replay")
            parsed = task.parse(item, completion)
            samples.append({"item_id": item.id, "run": run, **parsed, **task.score(item, parsed)})
    return result_from_samples(task, items, samples, name, columns, file)


def result_from_samples(task, items: list, samples: list, name: str, columns: list, file: str,
                        source: str = "released predictions") -> ModelResult:
    """A ModelResult from sample dicts (item_id, run, correct | score), replayed or read from a run directory."""
    subset = items[0].subset if items else ""
    result = ModelResult(task.name, subset, file, name, list(columns), task.aggregate(items, samples, RUNS),
                         source=source)
    by_item = {item.id: [None] * RUNS for item in items}
    for sample in samples:
        if sample["item_id"] in by_item and 0 <= sample["run"] < RUNS:
            by_item[sample["item_id"]][sample["run"]] = sample
    for item in items:
        runs = by_item[item.id]
        if task.name == "judge":
            scores = [s["score"] for s in runs if s and s.get("score") is not None]
            if scores:
                result.consensus[item.id] = (sum(scores) / len(scores), item.fields["human_score"])
        else:
            result.majority[item.id] = stats.majority_vote([bool(s and s.get("correct")) for s in runs])
    return result


def replay_file(task_name: str, subset: str, path, file: str) -> tuple:
    """(items, [ModelResult per discovered group], skipped groups) for one data file."""
    task = get_task(task_name, protocol=PAPER)
    items = task.load_items(path, subset)
    columns = list(items[0].row) if items else []
    groups, skipped = column_groups(columns, task.required_columns(subset))
    return items, [replay_group(task, items, name, cols, file) for name, cols in groups.items()], skipped
