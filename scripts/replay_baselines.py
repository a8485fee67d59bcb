"""Replay every released prediction column group of the benchmark data and write the results as reference rows.

    python scripts/replay_baselines.py --data ../shared/data/clinical [--out mlxclin/configs/baselines/paper_replay.json]

Each group of run columns (`gpt-5-0807-M1..M3`, `oss-20b (H) v1..v3`, ...) goes through `mlxclin eval --backend
replay`, exactly as a user would run it; the metrics become `kind = "measured"` entries (labelled as replays,
never as published numbers) with the columns, the data file's sha256 and the commit of the release. Judge subsets
are replayed one at a time because a few models' columns are named differently in the two files.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlxclin.cli import main as mlxclin_main  # noqa: E402
from mlxclin.evaluation.setup import replay_model_label  # noqa: E402
from mlxclin.data import SOURCES, UPSTREAM_REPO, read_table, sha256_of  # noqa: E402
from mlxclin.reproduce.models import column_groups  # noqa: E402

# Columns that describe the item, not a model's answer.
ITEM_COLUMNS = {
    "eurorad": {"case_id", "Section", "OriginalDescription", "PostDescription", "DifferentialDiagnosisList",
                "FinalDiagnosis", "DiseaseLeak"},
    "ophtho": {"6", "id", "Topic", "Type", "Question", "GT"},
    "judge": {"Clinical specialty", "disease_GT", "Frequency", "Model", "Disease_description", "HumanEvalScore"},
}
FILES = {("eurorad", ""): "eurorad_test.csv", ("ophtho", ""): "ophthalmology.csv",
         ("judge", "diagnosis"): "judge_diagnosis.csv", ("judge", "treatment"): "judge_treatment.csv"}
DIGITS = 4   # reference values are rounded for readability; the report recomputes nothing from them


def _rounded(value):
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def replay(task: str, subset: str, path: Path, columns: list, out: Path) -> dict:
    args = ["eval", "--task", task, "--backend", "replay", "--data", str(path), "--replay-columns",
            ",".join(columns), "--out", str(out), "--overwrite"] + (["--subset", subset] if subset else [])
    code = mlxclin_main(args)
    if code != 0:
        raise SystemExit(f"replay of {columns} failed with exit code {code}")
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def build_entries(data_dir: Path, work: Path) -> list:
    entries = {}
    for (task, subset), name in FILES.items():
        path = data_dir / name
        groups, _ = column_groups(read_table(path).columns, ITEM_COLUMNS[task])
        for number, (group, columns) in enumerate(groups.items()):
            metrics = replay(task, subset, path, columns, work / f"{task}-{subset}-{number}")
            label = replay_model_label(columns)
            block = {k: v for k, v in metrics.items() if k not in ("task", "model", "match_types")}
            entry = entries.setdefault((task, label), {
                "task": task, "model": label, "kind": "measured", "version": "replay",
                "source": f"replay of released predictions, {UPSTREAM_REPO} @ {SOURCES[name].commit}",
                "replay_model": label, "replay_columns": {}, "data_sha256": {}, "metrics": {}})
            entry["replay_columns"][subset or task] = columns
            entry["data_sha256"][name] = sha256_of(path)
            if subset:
                entry["metrics"].setdefault("runs", block["runs"])
                entry["metrics"].setdefault("subsets", {}).update(_rounded(block["subsets"]))
            else:
                entry["metrics"] = _rounded(block)
    return list(entries.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the released benchmark files")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "mlxclin" / "configs" / "baselines" / "paper_replay.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        entries = build_entries(args.data, Path(tmp))
    document = {"meta": {"description": "Replays of every released prediction column group of arXiv 2601.03266's "
                                        "data: measured by scripts/replay_baselines.py, not published numbers and "
                                        "not checked against the paper's tables (paper.toml holds published "
                                        "values).",
                         "generated_by": "scripts/replay_baselines.py"},
                "baseline": entries}
    args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} reference rows to {args.out}")


if __name__ == "__main__":
    main()
