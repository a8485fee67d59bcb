"""Shared by the benchmarks: a model to measure (given, or a freshly built toy gpt-oss converted to MLX)."""

import tempfile
from pathlib import Path


def model_dir(path=None, recipe: str = "mxfp4") -> Path:
    if path:
        return Path(path)
    from mlxclin.models.convert import convert
    from mlxclin.models.toy import write_toy_checkpoint

    root = Path(tempfile.mkdtemp(prefix="mlxclin-bench-"))
    hf = write_toy_checkpoint(root / "hf")
    return convert(str(hf), root / recipe, recipe=recipe).path
