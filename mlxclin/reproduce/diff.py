"""Every published cell (mlxclin/configs/baselines/published_cells.json) against its recomputation, at printed precision.

A cell names the prediction columns it depends on, per data file; the recomputation is the replayed column group
with exactly those columns, so no model name is matched by hand. A printed value matches when the recomputed one
is within half a unit of its last printed digit (89.4 accepts 89.35..89.45); a p-value printed as "p>0.05" matches
when the recomputed p satisfies the relation. The paper's known inconsistencies are expected to differ: they are
reported as mismatches with the extraction's note, never adjusted.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mlxclin import stats
from mlxclin.errors import MlxclinError
from mlxclin.parsing import option_letters
from mlxclin.paths import CONFIGS_DIR

CELLS_FILE = CONFIGS_DIR / "baselines" / "published_cells.json"
_OVERALL = "Overall"
_AVERAGE = " / Average"
_TASK_LEAD = re.compile(r"^\s*\w+ Task:\s*")   # "Diagnosis Task: " / "Treatment Task: " before the same vignette


@dataclass
class CellCheck:
    cell: dict
    recomputed: Optional[float]
    matches: bool

    @property
    def expected_match(self) -> bool:
        return self.cell.get("expected") == "match"


def load_cells(path: Path = CELLS_FILE) -> tuple:
    """(meta, cells) of a published-cells file; a missing or malformed file is a one-line error."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return document["meta"], document["cells"]
    except (OSError, ValueError, KeyError) as e:
        raise MlxclinError(f"cannot read published cells {path}: {' '.join(str(e).split())}") from None


def dataset_facts(items_by_file: dict) -> dict:
    """(task, group, metric) -> count, for the cells that describe the data rather than a model."""
    facts = {}
    eurorad = items_by_file.get("eurorad_test.csv", [])
    facts[("eurorad", _OVERALL, "n_cases")] = len(eurorad)
    facts[("eurorad", _OVERALL, "n_subspecialties")] = len({g for i in eurorad for g in i.fields["groups"]})
    ophtho = items_by_file.get("ophthalmology.csv", [])
    for kind in {i.fields["type"] for i in ophtho}:
        facts[("ophtho", kind, "n_questions")] = sum(i.fields["type"] == kind for i in ophtho)
    facts[("ophtho", _OVERALL, "n_questions")] = len(ophtho)
    counts = [len(option_letters(i.fields["question"])) for i in ophtho]
    if counts:
        facts[("ophtho", _OVERALL, "n_options_min")], facts[("ophtho", _OVERALL, "n_options_max")] = min(counts), max(counts)
    judge = items_by_file.get("judge_diagnosis.csv", []) + items_by_file.get("judge_treatment.csv", [])
    facts[("judge", _OVERALL, "n_cases")] = len(judge)
    # Each subset holds every patient once per graded model; its question differs between the subsets, so patients
    # are the distinct vignettes of one subset.
    vignettes = defaultdict(set)
    for item in judge:
        vignettes[item.subset].add(_TASK_LEAD.sub("", item.fields["description"].split("True Disease")[0]).strip())
    facts[("judge", _OVERALL, "n_patients")] = max((len(v) for v in vignettes.values()), default=0)
    facts[("judge", _OVERALL, "n_specialties")] = len({i.fields["specialty"] for i in judge})
    return facts


def _choice_value(metrics: dict, group: str, metric: str) -> Optional[float]:
    if group == _OVERALL or group == "Total errors":
        block = metrics["accuracy"]
    else:
        block = metrics["groups"].get(group[:-len(_AVERAGE)] if group.endswith(_AVERAGE) else group)
    if block is None:
        return None
    if metric == "total_errors":
        return block["n"] - block["correct"]
    return block.get({"accuracy_pct": "pct", "ci_low": "ci_low", "ci_high": "ci_high"}.get(metric, ""))


def _judge_value(metrics: dict, subset: str, group: str, metric: str) -> Optional[float]:
    block = metrics["subsets"].get(subset)
    if block is not None and group != _OVERALL:
        by_key = {**block["groups"], **block["frequency"]}
        block = by_key.get(group) or by_key.get(" ".join(group.split()).lower())
    return None if block is None else block.get(metric)


def recompute(cell: dict, results: dict, facts: dict) -> Optional[float]:
    """The recomputed value of one cell; None when its columns or group are not in the data."""
    columns = cell.get("columns") or {}
    if not columns:
        return facts.get((cell["task"], cell.get("group"), cell["metric"]))
    if len(columns) != 1:
        return None   # every published cell depends on one data file; anything else is not checkable here
    (file, names), = columns.items()
    groups = [results.get((file, tuple(names[i:i + 3]))) for i in range(0, len(names), 3)]
    if any(g is None for g in groups):
        return None
    if cell["metric"] == "p_value":
        a, b = groups
        shared = sorted(set(a.majority) & set(b.majority))
        return stats.mcnemar_test([a.majority[k] for k in shared], [b.majority[k] for k in shared])["p_value"]
    result = groups[0]
    if result.task == "judge":
        return _judge_value(result.metrics, cell.get("subset") or result.subset, cell["group"], cell["metric"])
    return _choice_value(result.metrics, cell["group"], cell["metric"])


def agrees(cell: dict, value: Optional[float]) -> bool:
    """Within half a unit of the last printed digit; relations ("p>0.05") must hold; counts exactly."""
    if value is None:
        return False
    relation = cell.get("relation")
    if relation:
        return value > cell["value"] if relation == ">" else value < cell["value"]
    printed = str(cell.get("printed", "")).lstrip("-")
    decimals = len(printed.split(".")[1]) if "." in printed and printed.replace(".", "").isdigit() else 0
    return abs(float(value) - float(cell["value"])) <= 0.5 * 10 ** -decimals + 1e-9


def check_cells(cells: list, results: list, items_by_file: dict) -> list:
    by_columns = {(r.file, tuple(r.columns)): r for r in results}
    facts = dataset_facts(items_by_file)
    checks = []
    for cell in cells:
        value = recompute(cell, by_columns, facts)
        checks.append(CellCheck(cell, value, agrees(cell, value)))
    return checks


def by_table(checks: list) -> dict:
    """table -> its checks, tables in the order of the file (main tables first)."""
    tables = defaultdict(list)
    for check in checks:
        tables[check.cell["table"]].append(check)
    return dict(tables)


def _cell_name(cell: dict) -> str:
    where = " ".join(str(p) for p in (cell.get("model"), cell.get("subset"), cell.get("group")) if p)
    return f"{where} {cell['metric']} {cell['printed']}".strip()


def match_line(table: str, checks: list) -> str:
    """`Table 2 (ophtho): 38/40 cells match; 2 differ: ...` (differences listed with their recomputed values)."""
    tasks = "/".join(dict.fromkeys(c.cell["task"] for c in checks))
    differ = [c for c in checks if not c.matches]
    line = f"{table} ({tasks}): {len(checks) - len(differ)}/{len(checks)} cells match"
    if not differ:
        return line
    shown = "; ".join(f"{_cell_name(c.cell)} vs {'n/a' if c.recomputed is None else f'{c.recomputed:.4g}'}"
                      + ("" if not c.expected_match else " (UNEXPECTED)") for c in differ[:3])
    more = f"; +{len(differ) - 3} more" if len(differ) > 3 else ""
    known = sum(not c.expected_match for c in differ)
    return f"{line}; {len(differ)} differ ({known} known inconsistencies): {shown}{more}"
