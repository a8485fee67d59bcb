"""Reading run directories for reports: config.json, metrics.json, samples.jsonl and (live runs) perf.json.

Reports read files only, never a live process's memory, so any run directory can be reported on later or on
another machine. Everything bad about a run directory becomes a one-line MlxclinError naming the path.
"""

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mlxclin.data import read_json_object
from mlxclin.errors import MlxclinError
from mlxclin.evaluation.rundir import METRICS as METRICS_FILE, SAMPLES as SAMPLES_FILE

CONFIG_FILE = "config.json"
PERF_FILE = "perf.json"
UNKNOWN_EFFORT = "unknown"   # what a replay records: a stored answer's effort is whatever its model used


def _read_json(path: Path, what: str) -> dict:
    return read_json_object(path, what)


@dataclass
class RunDir:
    path: Path
    config: dict
    metrics: dict
    perf: Optional[dict]
    _samples: Optional[list] = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def task(self) -> str:
        return self.metrics["task"]

    @property
    def model(self) -> str:
        return self.metrics["model"]

    @property
    def backend(self) -> str:
        return self.config.get("backend") or ("replay" if self.config.get("replay_columns") else "unknown")

    def effort_blocks(self) -> dict:
        """effort -> metrics contract block. Several efforts live under "by_effort"; a single effort is the
        top-level block, its effort named by "effort" (run engine) or config.json (replay: "unknown")."""
        by_effort = self.metrics.get("by_effort")
        if isinstance(by_effort, dict) and by_effort:
            return {str(effort): block for effort, block in by_effort.items()}
        effort = self.metrics.get("effort") or self.config.get("effort") or UNKNOWN_EFFORT
        return {str(effort): {k: v for k, v in self.metrics.items() if k != "by_effort"}}

    def perf_for(self, effort: str) -> Optional[dict]:
        efforts = (self.perf or {}).get("efforts") or {}
        return efforts.get(effort)

    def info(self, key: str):
        """A run-level fact (device, model_size_bytes) from perf.json, else config.json."""
        value = (self.perf or {}).get(key)
        return value if value is not None else self.config.get(key)

    def data_hashes(self) -> dict:
        """subset -> sha256 of the data file the run read (empty when config.json does not say)."""
        data = self.config.get("data") or {}
        return {s: d.get("sha256") for s, d in data.items() if isinstance(d, dict) and d.get("sha256")}

    def has_samples(self) -> bool:
        return (self.path / SAMPLES_FILE).is_file()

    def samples(self) -> list:
        """samples.jsonl, read once; [] when the run directory has none (tables still work, paired tests not)."""
        if self._samples is None:
            path = self.path / SAMPLES_FILE
            self._samples = []
            if path.is_file():
                lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                         if line.strip()]
                for index, (number, line) in enumerate(lines):
                    try:
                        self._samples.append(json.loads(line))
                    except json.JSONDecodeError:
                        # A run killed mid-write can leave a torn last line: the engine resumes past it, and
                        # so do we; a torn line anywhere else means the file is damaged.
                        if index != len(lines) - 1:
                            raise MlxclinError(f"{path} line {number} is not valid JSON")
        return self._samples


def _check_metrics(path: Path, metrics: dict) -> None:
    """The keys a report reads, with their types, so a damaged metrics.json is one line naming the key."""
    for key in ("task", "model"):
        if not metrics.get(key):
            raise MlxclinError(f"{path} has no {key!r}; is it a metrics.json written by mlxclin eval?")
    by_effort = metrics.get("by_effort")
    if by_effort is not None and not isinstance(by_effort, dict):
        raise MlxclinError(f"{path}: key 'by_effort' should be an object, found {type(by_effort).__name__}")
    blocks = {f"by_effort.{k}.": v for k, v in by_effort.items()} if by_effort else {"": metrics}
    for prefix, block in blocks.items():
        if not isinstance(block, dict) or ("accuracy" not in block and "subsets" not in block):
            raise MlxclinError(f"{path} has neither '{prefix}accuracy' nor '{prefix}subsets'; is it a metrics.json "
                               f"written by mlxclin eval?")
        _check_block(path, prefix, block)


def _check_block(path: Path, prefix: str, block: dict) -> None:
    def fail(key, expected, value):
        raise MlxclinError(f"{path}: key '{prefix}{key}' should be {expected}, found {value!r}; the metrics file "
                           f"is damaged")

    def number(key, value, optional=True):
        if (value is None and optional) or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
            return
        fail(key, "a number", value)

    if "accuracy" in block:
        accuracy = block["accuracy"]
        if not isinstance(accuracy, dict):
            fail("accuracy", "an object", accuracy)
        for key in ("pct", "correct", "n"):
            number(f"accuracy.{key}", accuracy.get(key), optional=key != "n")
        groups = block.get("groups", {})
        if not isinstance(groups, dict) or not all(isinstance(g, dict) for g in groups.values()):
            fail("groups", "an object of objects", groups)
    if "subsets" in block:
        subsets = block["subsets"]
        if not isinstance(subsets, dict) or not all(isinstance(v, dict) for v in subsets.values()):
            fail("subsets", "an object of objects", subsets)
        for name, subset in subsets.items():
            for key in ("n", "median_error", "mae", "spearman", "pearson"):
                number(f"subsets.{name}.{key}", subset.get(key), optional=key != "n")


def load_run(path) -> RunDir:
    path = Path(path)
    if not path.exists():
        raise MlxclinError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise MlxclinError(f"{path} is not a directory; pass run directories written by mlxclin eval --out")
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        raise MlxclinError(f"{path} has no {METRICS_FILE}; is it a run directory written by mlxclin eval --out?")
    metrics = _read_json(metrics_path, "metrics file")
    _check_metrics(metrics_path, metrics)
    config = _read_json(path / CONFIG_FILE, "run configuration") if (path / CONFIG_FILE).is_file() else {}
    perf = _read_json(path / PERF_FILE, "performance record") if (path / PERF_FILE).is_file() else None
    return RunDir(path=path, config=config, metrics=metrics, perf=perf)


def load_runs(paths) -> list:
    if not paths:
        raise MlxclinError("no run directories given")
    runs, seen = [], set()
    for p in paths:
        resolved = Path(p).resolve()
        if resolved in seen:
            raise MlxclinError(f"run directory {p} is given twice")
        seen.add(resolved)
        runs.append(load_run(p))
    return runs
