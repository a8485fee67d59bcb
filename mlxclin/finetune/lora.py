"""LoRA layers through mlx-lm's tuner, the trainable-parameter report, and mlx-lm's adapter files.

mlx-lm's `linear_to_lora_layers` wraps nn.Linear / QuantizedLinear in LoRALinear and the MoE expert projections
(SwitchLinear, and QuantizedSwitchLinear holding MXFP4 experts: QLoRA) in LoRASwitchLinear, which gives every
expert its own low-rank pair. The report counts adapters per module type, so a run where the experts silently got
no adapters (the paper's) is visible at the start of training.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from mlxclin.errors import MlxclinError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapters.safetensors"


def apply_lora(model, config, seed: int = 0) -> None:
    """Freeze the model and insert LoRA layers for `config.keys` in the last `config.num_layers` blocks (-1: all).

    Every key must match a module in the adapted blocks; otherwise the run would quietly train less than asked.
    """
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers

    blocks = model.layers if config.num_layers < 0 else model.layers[-config.num_layers:]
    present = {name for block in blocks for name, _ in block.named_modules()}
    missing = [k for k in config.keys if k not in present]
    if missing:
        wrappable = sorted(n for n in present if n.endswith("proj") or n.endswith("experts"))
        raise MlxclinError(f"LoRA key(s) {', '.join(missing)} match no module of this model; "
                           f"modules in a block: {', '.join(wrappable)}")
    model.freeze()
    mx.random.seed(seed)  # lora_a is drawn at random: the same seed gives the same starting adapters
    linear_to_lora_layers(model, config.num_layers, config.lora_parameters())


def module_kind(path: str) -> str:
    if ".experts." in path or path.endswith(".experts") or ".switch_mlp." in path or ".switch_glu." in path:
        return "experts"
    if "attn" in path:
        return "attention"
    return "other"


@dataclass
class ParamReport:
    rows: dict            # kind -> {"modules": n, "parameters": n, "keys": {key: modules}}
    trainable: int
    total: int

    def to_dict(self) -> dict:
        return {"by_module_type": self.rows, "trainable_parameters": self.trainable,
                "total_parameters": self.total}

    def format(self) -> str:
        lines = ["trainable parameters by module type:",
                 f"  {'module type':<12} {'adapted modules':>16} {'parameters':>14}  keys"]
        for kind in ("attention", "experts", "other"):
            row = self.rows.get(kind)
            if row:
                keys = ", ".join(f"{k} x{n}" for k, n in row["keys"].items())
                lines.append(f"  {kind:<12} {row['modules']:>16} {row['parameters']:>14,}  {keys}")
        for kind in ("attention", "experts"):
            if kind not in self.rows:
                lines.append(f"  {kind:<12} {0:>16} {0:>14}  (no adapters)")
        share = 100.0 * self.trainable / self.total if self.total else 0.0
        lines.append(f"  total trainable {self.trainable:,} of {self.total:,} parameters ({share:.3f}%)")
        return "\n".join(lines)


def parameter_report(model) -> ParamReport:
    """Adapters per module type (attention / experts / other) with module and parameter counts."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import get_total_parameters

    rows = {}
    for path, module in model.named_modules():
        if not (hasattr(module, "lora_a") and hasattr(module, "lora_b")):
            continue
        kind = module_kind(path)
        key = path.split(".layers.")[-1].split(".", 1)[-1] if ".layers." in path else path
        row = rows.setdefault(kind, {"modules": 0, "parameters": 0, "keys": {}})
        row["modules"] += 1
        row["parameters"] += module.lora_a.size + module.lora_b.size
        row["keys"][key] = row["keys"].get(key, 0) + 1
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    return ParamReport(rows, trainable, get_total_parameters(model))


def adapter_config(config, model_path, extra: dict = None) -> dict:
    """adapter_config.json as mlx-lm reads it (fine_tune_type, num_layers, lora_parameters) plus our recipe."""
    return {"fine_tune_type": "lora", "num_layers": config.num_layers, "lora_parameters": config.lora_parameters(),
            "model": str(model_path), "mlxclin": {"config": config.to_dict(), **(extra or {})}}


def save_adapters(model, out_dir, config_doc: dict) -> None:
    """adapters.safetensors (trainable weights only) and adapter_config.json, each written atomically."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (ADAPTER_WEIGHTS + ".tmp.safetensors")
    mx.save_safetensors(str(tmp), dict(tree_flatten(model.trainable_parameters())))
    tmp.replace(out / ADAPTER_WEIGHTS)
    tmp = out / (ADAPTER_CONFIG + ".tmp")
    tmp.write_text(json.dumps(config_doc, indent=2) + "\n")
    tmp.replace(out / ADAPTER_CONFIG)
