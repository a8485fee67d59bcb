"""Where mlxclin finds its data files (prompts, recipes, baselines) and keeps its caches."""

import os
from pathlib import Path

# mlxclin/configs/ is package data (prompts, recipes, baselines, prices): it travels inside a wheel, so an installed
# mlxclin evaluates without a checkout. MLXCLIN_CONFIGS points at another copy (e.g. edited prompts).
CONFIGS_DIR = Path(os.environ.get("MLXCLIN_CONFIGS", Path(__file__).resolve().parent / "configs"))


def cache_dir() -> Path:
    """User cache for downloaded data and vocab files (XDG on Linux, ~/Library/Caches on macOS)."""
    if "MLXCLIN_CACHE" in os.environ:
        return Path(os.environ["MLXCLIN_CACHE"])
    if os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mlxclin"


def config_file(*parts: str) -> Path:
    return CONFIGS_DIR.joinpath(*parts)
