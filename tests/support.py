"""Plain helpers shared by test modules (fixtures live in conftest.py, which imports these)."""

import csv
from pathlib import Path

# The reference copy of the released benchmark data sits beside the checkout (../shared), never inside it.
CLINICAL_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinical"


def write_csv(path: Path, header: list, rows: list) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def assert_one_line_error(result, *fragments) -> str:
    """A CLI failure the way users must see it: non-zero exit, one stderr line, no traceback. Returns the line."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlxclin: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
