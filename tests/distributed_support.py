"""Running `python -m mlxclin ...` on several ranks through `mlx.launch` (ring backend on loopback)."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def launcher() -> str:
    """mlx.launch from this interpreter's environment (the venv running pytest)."""
    beside = Path(sys.executable).parent / "mlx.launch"
    return str(beside) if beside.exists() else (shutil.which("mlx.launch") or "mlx.launch")


def free_ports(n: int) -> int:
    """A starting port with n consecutive free ports: the ring backend listens on port + rank."""
    for _ in range(50):
        start = random.randint(20000, 60000)
        try:
            for p in range(start, start + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return start
        except OSError:
            continue
    raise RuntimeError("no free port range for the ring backend")


def launch_prefix(n: int) -> list:
    """`mlx.launch -n N ... --`: the command to run on every rank follows."""
    return [launcher(), "-n", str(n), "--backend", "ring", "--starting-port", str(free_ports(n)), "--"]


def launch_args(n: int, *args) -> list:
    return [*launch_prefix(n), sys.executable, "-m", "mlxclin", *[str(a) for a in args]]


def launch_env() -> dict:
    # the checkout under test must win over any installed mlxclin on every rank
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1"}


def launch(n: int, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """`mlx.launch -n N -- python -m mlxclin ARGS`. mlx.launch exits 0 even when ranks fail: check the output.
    On a timeout the whole process group goes (the ranks are the launcher's children)."""
    proc = subprocess.Popen(launch_args(n, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=launch_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"mlx.launch timed out after {timeout} s:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def mlxclin_errors(stderr: str) -> list:
    """The one-line errors ranks printed (mlx.launch adds its own [WARN] lines about exit codes)."""
    return [line for line in stderr.splitlines() if line.startswith("mlxclin: error: ")]
