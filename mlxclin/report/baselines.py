"""Reference rows from mlxclin/configs/baselines/: published numbers of the paper, and replays of released predictions.

A baselines file (TOML, or JSON of the same shape) holds `[[baseline]]` entries. Each names its task, model and
source, and carries `metrics`: a partial metrics.json contract block with only the values that source gives, so
that the report lays out reference and measured rows with the same code and never shows a number nobody printed.

    [[baseline]]
    task = "eurorad"
    model = "GPT-5.1"
    kind = "published"               # published (printed in a paper) | measured (computed, e.g. by replay)
    version = "paper v2"             # shown in the row label
    source = "arXiv 2601.03266 v2 ..."
    replay_model = "gpt-5.1-1113"    # optional: the label a replay of the same stored predictions gets
    [baseline.metrics.accuracy]
    pct = 89.4

When a measured row of the report has the `replay_model` label, every published value is checked against it
(within the published rounding) and the result is listed in the report.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from mlxclin.errors import MlxclinError
from mlxclin.paths import CONFIGS_DIR
from mlxclin.report.rows import ResultRow, split_effort

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    import tomli as tomllib

BASELINES_DIR = CONFIGS_DIR / "baselines"
KINDS = ("published", "measured")
_REQUIRED = ("task", "model", "kind", "source", "metrics")


@dataclass
class Check:
    task: str
    published: str      # baseline row label
    measured: str       # measured row label
    metric: str         # "groups › Musculoskeletal system › pct"
    published_value: object
    measured_value: object
    agrees: bool


def baseline_files(selection: str, directory: Path = None) -> list:
    """Files of a baseline set: "none" -> []; "paper" -> paper.toml and paper_*.{toml,json}; or a file path."""
    directory = Path(directory or BASELINES_DIR)
    if selection in (None, "", "none"):
        return []
    path = Path(selection)
    if path.is_file():
        return [path]
    files = sorted(p for p in directory.glob("*") if p.suffix in (".toml", ".json")
                   and (p.stem == selection or p.stem.startswith(selection + "_")))
    if not files:
        known = sorted({p.stem.split("_")[0] for p in directory.glob("*") if p.suffix in (".toml", ".json")})
        raise MlxclinError(f"no baseline set {selection!r} in {directory}; known: {', '.join(known) or 'none'} "
                           f"(or pass a file, or 'none')")
    return files


def _read(path: Path) -> dict:
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:   # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise MlxclinError(f"{path} is not a valid baselines file: {' '.join(str(e).split())}")


def load_entries(selection: str, directory: Path = None) -> list:
    entries = []
    for path in baseline_files(selection, directory):
        for number, entry in enumerate(_read(path).get("baseline", []), start=1):
            missing = [k for k in _REQUIRED if k not in entry]
            if missing:
                raise MlxclinError(f"{path} baseline {number} lacks {', '.join(missing)}")
            if entry["kind"] not in KINDS:
                raise MlxclinError(f"{path} baseline {number}: kind {entry['kind']!r} is not one of {KINDS}")
            entries.append({**entry, "file": str(path)})
    return entries


def baseline_rows(entries: list, measured_rows: list) -> list:
    """Rows for the report. A measured (replay) reference is dropped when the report already holds a run of the
    same model on the same task: the user's own run of the same predictions says the same, with samples."""
    have = {(r.task, r.model) for r in measured_rows}
    rows = []
    for e in entries:
        if e["kind"] == "measured" and (e["task"], e.get("replay_model")) in have:
            continue
        family, effort, from_label = split_effort(e["model"], e.get("effort", ""))
        version = e.get("version", "")
        # "published · paper v2"; a computed reference says so, so it is never read as the user's own run.
        kind = " · ".join(p for p in (e["kind"], version, "reference" if e["kind"] == "measured" else "") if p)
        rows.append(ResultRow(
            task=e["task"], model=e["model"], effort=effort, kind=kind,
            source=e["source"], metrics=e["metrics"], effort_from_label=from_label or not e.get("effort"),
            family=family, extra={"replay_model": e.get("replay_model"), "file": e["file"], "version": version,
                                  "published": e["kind"] == "published",
                                  "model_size_bytes": e.get("model_size_bytes")}))
    return rows


def _leaves(block: dict, path=()):
    for key, value in block.items():
        if isinstance(value, dict):
            yield from _leaves(value, path + (key,))
        else:
            yield path + (key,), value


def _lookup(block: dict, path: tuple):
    for key in path:
        if not isinstance(block, dict) or key not in block:
            return None
        block = block[key]
    return block


def _agrees(published, measured) -> bool:
    """Equal within the published rounding: 89.4 accepts 89.35..89.45, 0.104 accepts 0.1035..0.1045."""
    if measured is None or isinstance(published, (str, bool)):
        return measured == published
    if isinstance(published, int):
        return measured == published
    text = repr(float(published))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return abs(float(measured) - float(published)) <= 0.5 * 10 ** -decimals + 1e-9


def published_checks(rows: list) -> list:
    """Each published value against the measured row that replayed the same stored predictions."""
    checks = []
    measured = [r for r in rows if r.measured]
    for ref in rows:
        if ref.measured or not ref.extra.get("published") or not ref.extra.get("replay_model"):
            continue
        for row in measured:
            if row.task != ref.task or row.model != ref.extra["replay_model"]:
                continue
            for path, value in _leaves(ref.metrics):
                got = _lookup(row.metrics, path)
                checks.append(Check(ref.task, ref.label, row.label, " › ".join(path), value, got,
                                    _agrees(value, got)))
    return checks
