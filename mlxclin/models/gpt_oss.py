"""gpt-oss on top of mlx-lm, with the fixes mlx-lm lacks.

1. YaRN `truncate: false`. The released config asks for the unrounded YaRN correction range; mlx-lm 0.32 always
   floors/ceils it, so 9 of the 32 inverse RoPE frequencies of gpt-oss-20b differ by up to 76 % from the reference.
   `fix_rope` recomputes the frequencies the way transformers does and installs them in every attention layer.
2. Configs written by transformers 5 (`rope_parameters`, `dtype`) are mapped back to the keys mlx-lm reads
   (`rope_theta`, `rope_scaling`, `torch_dtype`); otherwise mlx-lm silently builds a model without YaRN.
3. Dequantized (dense bf16) Hugging Face checkpoints store experts as `gate_up_proj` [E, hidden, 2*inter]
   (input-major, gate/up interleaved along the last axis); mlx-lm expects [E, out, in] and refuses them.
"""

import math
from pathlib import Path
from typing import Optional

import mlx.core as mx
from mlx_lm.models import gpt_oss as mlx_gpt_oss
from mlx_lm.models.rope_utils import YarnRoPE


def normalize_config(config: dict) -> dict:
    """A copy of an HF gpt-oss config with transformers-5 keys mapped to the ones mlx-lm reads."""
    config = dict(config)
    rope = config.pop("rope_parameters", None)
    if rope:
        rope = dict(rope)
        config.setdefault("rope_theta", rope.pop("rope_theta", 150000))
        if rope.get("rope_type", rope.get("type", "default")) != "default":
            config.setdefault("rope_scaling", rope)
    if "dtype" in config and "torch_dtype" not in config:
        config["torch_dtype"] = config["dtype"]
    return config


def yarn_inverse_frequencies(dims: int, base: float, scaling: dict) -> mx.array:
    """YaRN inverse frequencies as transformers computes them, honouring `truncate` (default True)."""
    factor = scaling["factor"]
    original = scaling.get("original_max_position_embeddings", 4096)
    beta_fast, beta_slow = scaling.get("beta_fast", 32), scaling.get("beta_slow", 1)

    def correction_dim(rotations):
        return dims * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dims - 1)
    if low == high:
        high += 0.001
    ramp = mx.clip((mx.arange(dims // 2, dtype=mx.float32) - low) / (high - low), 0, 1)
    extrapolation = 1.0 - ramp
    pos = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
    return (1.0 / (factor * pos)) * (1 - extrapolation) + (1.0 / pos) * extrapolation


def fix_rope(model, config: dict) -> int:
    """Install reference YaRN frequencies in every gpt-oss attention layer. Returns how many layers changed."""
    scaling = config.get("rope_scaling") or {}
    if config.get("model_type") != "gpt_oss" or scaling.get("rope_type", scaling.get("type")) != "yarn":
        return 0
    changed = 0
    for layer in model.layers:
        rope = layer.self_attn.rope
        if isinstance(rope, YarnRoPE):
            # mx.fast.rope takes periods (1 / inverse frequency) through `freqs`
            rope._freqs = 1.0 / yarn_inverse_frequencies(rope.dims, config.get("rope_theta", 150000), scaling)
            changed += 1
    return changed


class Model(mlx_gpt_oss.Model):
    """mlx-lm's gpt-oss that also accepts dense (dequantized) Hugging Face expert tensors."""

    def sanitize(self, weights):
        dense = {}
        for k in list(weights):
            if k.endswith("experts.gate_up_proj"):
                v = weights.pop(k).swapaxes(-1, -2)  # -> [E, 2*inter, hidden]
                dense[k.replace("gate_up_proj", "gate_proj.weight")] = mx.contiguous(v[..., ::2, :])
                dense[k.replace("gate_up_proj", "up_proj.weight")] = mx.contiguous(v[..., 1::2, :])
            elif k.endswith("experts.down_proj"):
                dense[k.replace("down_proj", "down_proj.weight")] = mx.contiguous(weights.pop(k).swapaxes(-1, -2))
        weights = super().sanitize(weights)
        weights.update(dense)
        return weights


def make_cpu_runnable(model) -> None:
    """Without Metal, MLX's gather_mm (dense MoE experts) only runs in float32: upcast those weights in memory."""
    from mlx_lm.models.switch_layers import SwitchLinear

    from mlxclin.device import metal_available

    if metal_available():
        return
    for _, module in model.named_modules():
        if isinstance(module, SwitchLinear) and module.weight.dtype != mx.float32:
            module.weight = module.weight.astype(mx.float32)


def model_classes(config: dict):
    """For mlx_lm.utils.load_model(get_model_classes=...): our gpt-oss class, mlx-lm's for anything else."""
    from mlx_lm.utils import _get_classes

    if config.get("model_type") == "gpt_oss":
        return Model, mlx_gpt_oss.ModelArgs
    return _get_classes(config)


def load(path, adapter_path: Optional[str] = None, lazy: bool = False):
    """Load an MLX (or HF) model dir through mlx-lm with mlxclin's fixes. Returns (model, tokenizer, config)."""
    from mlx_lm.utils import load_adapters, load_model, load_tokenizer

    from mlxclin.models.folders import check_adapter_folder, check_model_folder

    path = Path(path)
    raw = check_model_folder(path)
    if adapter_path:
        check_adapter_folder(adapter_path)
    overrides = {k: v for k, v in normalize_config(raw).items() if raw.get(k) != v}
    model, config = load_model(path, lazy=lazy, model_config=overrides, get_model_classes=model_classes)
    fix_rope(model, config)
    make_cpu_runnable(model)
    if adapter_path:
        model = load_adapters(model, str(adapter_path))
        model.eval()
    tokenizer = load_tokenizer(path, eos_token_ids=config.get("eos_token_id"))
    return model, tokenizer, config
