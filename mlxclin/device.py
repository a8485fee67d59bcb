"""Facts about this machine and MLX memory, shared by `doctor`, the backends and run directories.

Metal-only calls are guarded: on Linux (mlx[cpu]) there is no Metal device and `device_info()` may be empty.
"""

import os
import platform
import subprocess
from functools import lru_cache


def _mx():
    import mlx.core as mx

    return mx


def metal_available() -> bool:
    try:
        return bool(_mx().metal.is_available())
    except Exception:
        return False


def reset_peak_memory() -> None:
    mx = _mx()
    (getattr(mx, "reset_peak_memory", None) or mx.metal.reset_peak_memory)()


def peak_memory_gb() -> float:
    """MLX allocator peak since the last reset (on CPU too: mlx tracks its own allocations)."""
    mx = _mx()
    return (getattr(mx, "get_peak_memory", None) or mx.metal.get_peak_memory)() / 1e9


def rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e9


def _sysctl(key: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_name() -> str:
    if platform.system() == "Darwin":
        return _sysctl("machdep.cpu.brand_string") or platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / 1e9


@lru_cache(maxsize=1)
def device_info() -> dict:
    """OS, chip, memory, accelerators and library versions: recorded in every run directory."""
    import mlx
    import mlx_lm

    mx = _mx()
    metal = metal_available()
    info = {}
    if metal:
        try:
            info = dict(mx.metal.device_info()) if hasattr(mx, "metal") else {}
        except Exception:
            info = {}
    cuda = False
    try:
        cuda = bool(mx.cuda.is_available())
    except Exception:
        pass
    return {
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "chip": info.get("device_name") or cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(total_memory_gb(), 1),
        "unified_memory": platform.system() == "Darwin" and platform.machine() == "arm64",
        "metal": metal,
        "cuda": cuda,
        "max_recommended_working_set_gb": round(info["max_recommended_working_set_size"] / 1e9, 1)
        if "max_recommended_working_set_size" in info else None,
        "default_device": str(mx.default_device()),
        "python": platform.python_version(),
        "mlx": getattr(mlx, "__version__", None) or mx.__version__,
        "mlx_lm": mlx_lm.__version__,
    }
