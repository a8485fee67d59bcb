"""The training recipe: a dataclass filled from a TOML file (mlxclin/configs/finetune/*.toml) and CLI overrides."""

import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError
from mlxclin.paths import config_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_RECIPE = "gpt-oss-20b-eurorad"
ATTENTION_KEYS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
EXPERT_KEYS = ("mlp.experts.gate_proj", "mlp.experts.up_proj", "mlp.experts.down_proj")
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    rank: int = 32
    alpha: float = 64.0
    dropout: float = 0.05
    keys: list = field(default_factory=lambda: list(ATTENTION_KEYS + EXPERT_KEYS))
    num_layers: int = -1
    optimizer: str = "adamw"
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_fraction: float = 0.1
    batch_size: int = 1
    grad_accum: int = 16
    epochs: int = 3
    iters: Optional[int] = None      # optimizer steps; when set, replaces epochs
    max_seq_len: int = 4096
    grad_checkpoint: bool = True
    seed: int = 0
    steps_per_report: int = 10
    steps_per_eval: int = 50
    val_batches: int = -1
    save_every: int = 50
    keep_checkpoints: int = 2

    @property
    def scale(self) -> float:
        """mlx-lm's LoRA `scale` is the usual alpha / rank."""
        return self.alpha / self.rank

    def lora_parameters(self) -> dict:
        return {"rank": self.rank, "scale": self.scale, "dropout": self.dropout, "keys": list(self.keys)}

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "TrainConfig":
        positive = ("rank", "batch_size", "grad_accum", "epochs", "max_seq_len", "steps_per_report",
                    "steps_per_eval", "save_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise MlxclinError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.iters is not None and self.iters < 1:
            raise MlxclinError(f"iters must be at least 1, got {self.iters}")
        if not 0.0 <= self.dropout < 1.0:
            raise MlxclinError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise MlxclinError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.learning_rate <= 0 or self.alpha <= 0:
            raise MlxclinError("learning_rate and alpha must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise MlxclinError(f"unknown optimizer {self.optimizer!r}; choose {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise MlxclinError(f"unknown schedule {self.schedule!r}; choose {', '.join(SCHEDULES)}")
        if not self.keys or not all(isinstance(k, str) and k for k in self.keys):
            raise MlxclinError("keys must list module paths to adapt, e.g. self_attn.q_proj")
        return self


def recipe_path(name_or_path: Optional[str]) -> Path:
    """A recipe by file path, or by name from mlxclin/configs/finetune/<name>.toml (default: the paper's)."""
    path = Path(name_or_path or DEFAULT_RECIPE)
    if not path.suffix and not path.exists():
        path = config_file("finetune", f"{path}.toml")
    if not path.is_file():
        raise MlxclinError(f"fine-tuning config not found: {path}")
    return path


def load_config(name_or_path: Optional[str] = None, overrides: Optional[dict] = None) -> TrainConfig:
    """The recipe file, then every override that is not None. Unknown keys are errors, not silently ignored."""
    path = recipe_path(name_or_path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise MlxclinError(f"{path} is not valid TOML: {e}") from None
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MlxclinError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if isinstance(values.get("keys"), str):   # "a,b,c" from the command line
        values["keys"] = [k.strip() for k in values["keys"].split(",") if k.strip()]
    _check_types(values, path)
    try:
        config = TrainConfig(**values)
    except TypeError as e:
        raise MlxclinError(f"bad fine-tuning config {path}: {e}") from None
    return config.validate()


def _check_types(values: dict, path: Path) -> None:
    """Each value must have its field's type (ints are accepted for floats): rank = "32" is an error."""
    defaults = TrainConfig()
    for name, value in list(values.items()):
        default = getattr(defaults, name)
        expected = int if name == "iters" else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise MlxclinError(f"{path}: {name} must be {expected.__name__}, got {value!r}")
