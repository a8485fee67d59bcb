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


def sigkill_eval_after(cli_args: list, samples_path: Path, lines: int, timeout_s: float = 300) -> int:
    """Start `mlxclin <cli_args>` in a subprocess, SIGKILL it once samples.jsonl holds `lines` lines; returns the
    number of lines it left. Fails the test if the run finished (or timed out) before it could be killed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "mlxclin.cli", *map(str, cli_args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if samples_path.exists() and samples_path.read_text().count("\n") >= lines:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "eval finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return samples_path.read_text().count("\n")
