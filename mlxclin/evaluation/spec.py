"""EvalSpec: every setting of an evaluation, validated in one place whether it comes from flags, a TOML file or Python.

    EvalSpec(task="eurorad", model="models/gpt-oss-20b", efforts=["low", "high"], runs=3)
    EvalSpec.from_sources(config_file="eval.toml", runs=5)     # the file's values, then explicit overrides

TOML keys are the flag names, with dashes or underscores (`batch-size` or `batch_size`); `effort` (the flag's name)
and `efforts` both take one effort or a list. An unknown key or a bad value is one error line naming the flag, or
the file and key it came from.
"""

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError
from mlxclin.protocol import DEFAULT_PROTOCOL, PROTOCOLS

EFFORTS = ("low", "medium", "high")
BACKENDS = ("mlx", "openai", "replay")
APIS = ("chat", "responses")
DEFAULT_RUNS = 3
ALIASES = {"effort": "efforts", "prompt_file": "prompt_files", "out_dir": "out", "task_name": "task"}


@dataclass
class EvalSpec:
    task: Optional[str] = None
    data: Optional[str] = None              # file, or folder with the released file names; None: download
    backend: str = "mlx"
    model: Optional[str] = None
    adapter_path: Optional[str] = None
    base_url: Optional[str] = None
    api_model: Optional[str] = None
    api: Optional[str] = None
    api_key_env: Optional[str] = None
    allow_remote: bool = False
    timeout: float = 600.0                  # seconds of silence before a remote request is retried
    runs: Optional[int] = None              # None: 3 (replay: one per column)
    seed: int = 0
    subset: Optional[str] = None
    efforts: list = field(default_factory=list)   # empty: ["medium"]
    # sampling; None: the model's default (mlxclin.decoding.sampling.model_defaults), resolved into config.json
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None             # 0 = off
    min_p: Optional[float] = None           # 0 = off
    presence_penalty: Optional[float] = None
    max_tokens: int = 4096                  # room for high-effort reasoning
    batch_size: int = 1                     # or "auto": the largest that fits in memory
    concurrency: int = 4
    retry_unparsed: int = 0
    ids: Optional[str] = None
    limit: Optional[int] = None
    out: Optional[str] = None
    replay_columns: Optional[str] = None
    map_options: bool = False
    protocol: str = DEFAULT_PROTOCOL        # scoring rules: "paper" or "mlxclin" (docs/reproduce.md)
    prompt_files: list = field(default_factory=list)
    shard: Optional[str] = None             # "tensor": under mlx.launch, split the model, not the requests
    overwrite: bool = False
    quiet: bool = False
    # decoding: "sample" (default) or "beam" (diverse beam search, one search per request; mlxclin.decoding)
    decoding: str = "sample"
    beams: int = 13
    beam_groups: Optional[int] = None       # None: one group per beam
    diversity_penalty: float = 0.5
    length_penalty: float = 1.0
    early_stopping: bool = True
    vote: str = "majority"

    def __post_init__(self):
        for f in fields(self):
            setattr(self, f.name, check_setting(f.name, getattr(self, f.name), self.origin(f.name)))
        if not self.task:
            raise MlxclinError("--task is required (eurorad, ophtho or judge)")

    @classmethod
    def from_sources(cls, config_file=None, **overrides) -> "EvalSpec":
        """The TOML file's values (if any), then every override that is not None."""
        values, origins = {}, {}
        if config_file:
            config_file = eval_config_path(config_file)
            for key, value in read_toml(config_file).items():
                name = ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
                if name not in _FIELD_NAMES or name.startswith("_"):
                    raise MlxclinError(f"--config {config_file}: unknown key {key!r}")
                values[name], origins[name] = value, f"--config {config_file}: key {key!r}"
        for key, value in overrides.items():
            name = ALIASES.get(key, key)
            if name not in _FIELD_NAMES:
                raise TypeError(f"EvalSpec has no setting {key!r}")
            if value is not None and value != () and value != []:
                values[name], origins[name] = value, f"--{name.replace('_', '-')}"
        spec = cls.__new__(cls)
        spec._origins = origins
        spec.__init__(**values)
        return spec

    def origin(self, name: str) -> str:
        """Where a setting was given, for messages and config.json: its flag, or the --config file and key."""
        return getattr(self, "_origins", {}).get(name, f"--{name.replace('_', '-')}")

    @property
    def effort_list(self) -> list:
        return list(self.efforts) or ["medium"]

    def resolved_runs(self) -> int:
        return self.runs if self.runs is not None else DEFAULT_RUNS


_FIELD_NAMES = {f for f in EvalSpec.__dataclass_fields__}


def eval_config_path(name_or_path) -> Path:
    """An eval settings file by path, or by name from mlxclin/configs/eval/<name>.toml (shipped with the package)."""
    from mlxclin.paths import config_file

    path = Path(name_or_path)
    if not path.exists() and not path.suffix:
        shipped = config_file("eval", f"{path}.toml")
        if shipped.is_file():
            return shipped
    return path


def read_toml(path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MlxclinError(f"--config {path}: {' '.join(str(e).split())}") from None


# name -> (kind, minimum, maximum); kinds: int, float, bool, str, efforts, strlist
_RULES = {
    "runs": ("int", 1, None), "seed": ("int", 0, None), "max_tokens": ("int", 1, None),
    "batch_size": ("int", 1, None), "concurrency": ("int", 1, None), "retry_unparsed": ("int", 0, None),
    "limit": ("int", 1, None), "temperature": ("float", 0.0, None), "top_p": ("float", 0.0, 1.0),
    "top_k": ("int", 0, None), "min_p": ("float", 0.0, 1.0), "presence_penalty": ("float", None, None),
    "timeout": ("float", 0.0, None), "allow_remote": ("bool",), "map_options": ("bool",), "overwrite": ("bool",),
    "quiet": ("bool",), "efforts": ("efforts",), "prompt_files": ("strlist",),
    "beams": ("int", 1, None), "beam_groups": ("int", 1, None), "diversity_penalty": ("float", 0.0, None),
    "length_penalty": ("float", -10.0, 10.0), "early_stopping": ("bool",),
}
_OPEN_LOW = ("top_p", "timeout")
_OPEN_HIGH = ("min_p",)
_CHOICES = {"backend": BACKENDS, "api": APIS, "protocol": PROTOCOLS, "shard": ("tensor",),
            "decoding": ("sample", "beam"),
            "vote": ("majority", "logprob-fallback")}


def check_setting(name: str, value, origin: str):
    """The value, normalised (lists, ints from strings); a bad one is an MlxclinError naming where it came from.
    EvalSpec checks every field with it; `mlxclin generate` its sampling flags."""
    if value is None:
        return value
    kind, *bounds = _RULES.get(name, ("str",))
    bad = lambda why: MlxclinError(f"{origin}: {why} (got {value!r})")  # noqa: E731
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if kind in ("efforts", "strlist"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise bad("must be a string or a list of strings")
        if kind == "efforts":
            unknown = [v for v in items if v not in EFFORTS]
            if unknown:
                raise MlxclinError(f"{origin}: unknown effort {unknown[0]!r}; choose from {', '.join(EFFORTS)}")
            return list(dict.fromkeys(items))
        return list(items)
    if name == "batch_size" and value == "auto":
        return value   # the largest batch whose memory estimate fits (mlxclin.memory.pick_batch_size)
    if kind in ("int", "float"):
        return _number(kind, value, bounds, bad, name)
    if not isinstance(value, str):
        raise bad("must be a string")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise bad(f"choose one of {', '.join(_CHOICES[name])}")
    return value


def _number(kind: str, value, bounds: list, bad, name: str):
    if isinstance(value, bool):
        raise bad(f"must be a{'n integer' if kind == 'int' else ' number'}")
    try:
        number = int(value) if kind == "int" else float(value)
    except (TypeError, ValueError):
        raise bad(f"must be a{'n integer' if kind == 'int' else ' number'}") from None
    if kind == "int" and isinstance(value, float) and not value.is_integer():
        raise bad("must be an integer")
    if kind == "float" and not math.isfinite(number):
        raise bad("must be a finite number")
    low, high = bounds
    if name in _OPEN_LOW and number <= low:
        raise bad(f"must be greater than {low:g}")
    if low is not None and number < low:
        raise bad(f"must be at least {low:g}")
    if name in _OPEN_HIGH and number >= high:
        raise bad(f"must be less than {high:g}")
    if high is not None and number > high:
        raise bad(f"must be at most {high:g}")
    return number


def sampling_settings(explicit: dict, model_dir) -> tuple:
    """(values, sources) of the five sampling settings: each explicit one (name -> (value, where it was set)),
    else the model's default (mlxclin.decoding.sampling.model_defaults: generation_config.json, the model card,
    gpt-oss's). Defaults read from a checkpoint are checked like flags, naming the file and key."""
    from mlxclin.decoding.sampling import model_defaults

    values, sources = {}, {}
    for name, (value, source) in model_defaults(model_dir).items():
        if explicit.get(name, (None,))[0] is not None:
            value, source = explicit[name]
        elif source == "generation_config.json":
            value = check_setting(name, value, f"{Path(model_dir) / source}: key {name!r}")
        values[name], sources[name] = value, source
    return values, sources
