"""Write mlxclin/configs/baselines/published_cells.json: the paper's published cells that `mlxclin reproduce` checks.

    python scripts/published_cells.py ../shared/data/clinical/published/paper_cells.json

Source: the cell-by-cell extraction of arXiv 2601.03266 v2 (paper/main.tex, paper/supp.tex of
bowang-lab/on-device-LLM @ 945c91d) that ships beside the shared data. Kept per cell: where it was printed (table,
file, line), what it is (task, model, group, subset, effort, metric), the printed text and value, the prediction
columns it depends on (by the local file name of mlxclin.data.SOURCES), and whether the paper agrees with its own
data there (`expected`: "match" or "inconsistent", with the extraction's explanation). Cells that mlxclin cannot
recompute from predictions (error-category shares labelled by the authors' LLM judge, a memory estimate from
parameter counts) are left out and counted in meta.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlxclin.data import SOURCES  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "mlxclin" / "configs" / "baselines" / "published_cells.json"
NOT_CHECKABLE = {"error_category_pct": "category labels come from the authors' LLM-judge output, not predictions",
                 "memory_gb": "a memory estimate from parameter counts, not from predictions"}
KEEP = ("id", "table", "task", "model", "model_id", "group", "group_type", "subset", "effort", "metric", "printed",
        "value", "relation")


def local_columns(columns: dict) -> dict:
    by_upstream = {Path(s.path).name: name for name, s in SOURCES.items()}
    return {by_upstream[f]: cols for f, cols in columns.items()}


def convert(source: dict) -> dict:
    meta, cells, skipped = source["meta"], [], {}
    explanations = {k["id"]: k["explanation"] for k in meta["known_inconsistencies"]}
    for cell in source["cells"]:
        if cell["metric"] in NOT_CHECKABLE:
            skipped[cell["metric"]] = skipped.get(cell["metric"], 0) + 1
            continue
        entry = {k: cell.get(k) for k in KEEP if cell.get(k) is not None}
        entry["columns"] = local_columns(cell.get("columns") or {})
        entry["source"] = f"{cell['source_file']}:{cell['line']}" if cell.get("line") else cell.get("source_file")
        entry["expected"] = "match" if cell["matches"] else "inconsistent"
        if not cell["matches"]:
            entry["note"] = explanations.get(cell["id"]) or cell.get("mismatch_hint") or ""
        if cell.get("note"):
            entry["cell_note"] = cell["note"]
        cells.append(entry)
    return {"meta": {
        "title": meta["title"],
        "source": {k: meta["source"][k] for k in ("repository", "commit", "paper_files")},
        "generated_by": "scripts/published_cells.py from the published-cells extraction beside the shared data",
        "recompute_rules": meta["recompute_rules"],
        "left_out": {m: {"cells": n, "why": NOT_CHECKABLE[m]} for m, n in sorted(skipped.items())},
        "other_inconsistencies": meta.get("other_inconsistencies", []),
    }, "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paper_cells", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = convert(json.loads(args.paper_cells.read_text(encoding="utf-8")))
    # one cell per line: readable diffs when the extraction changes
    cells = ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in result["cells"])
    meta = json.dumps(result["meta"], indent=1, ensure_ascii=False)
    args.out.write_text(f'{{"meta": {meta},\n "cells": [\n{cells}\n]}}\n', encoding="utf-8")
    inconsistent = sum(c["expected"] == "inconsistent" for c in result["cells"])
    print(f"wrote {args.out}: {len(result['cells'])} cells ({inconsistent} inconsistent); left out "
          + ", ".join(f"{m}: {v['cells']}" for m, v in result["meta"]["left_out"].items()))


if __name__ == "__main__":
    main()
