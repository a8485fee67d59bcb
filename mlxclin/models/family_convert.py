"""`mlxclin convert` and `--verify` for Qwen3.5 (dense, MoE) and Gemma 4, on top of mlx-lm's models and quantizers.

Recipes (bits per weight printed after conversion):
  f32, bf16     everything dense in that dtype
  q8, q4        affine 8/4-bit (group 64) everywhere mlx-lm's predicate allows: the MoE router and shared-expert gate
                stay 8-bit (mlx-lm's qwen3_5_moe / gemma4 predicates); layers whose input width is not a multiple of
                the group size stay dense
  mixed_4_6, mixed_3_6   mlx-lm's mixed recipes (llama.cpp Q4_K_M-like: v_proj / down_proj of some layers and
                lm_head at 6 bits, the rest at 4 or 3)

One conversion detail mlx-lm gets wrong for Qwen3.5: its sanitize adds 1 to the zero-centred RMSNorm weights in the
checkpoint's dtype (bf16), which rounds 1 + w to 8 bits of mantissa (max |delta logit| ~1e-2 on the toy, top-1 flips)
before any recipe is applied. Here the source tensors are upcast to float32 before sanitize, so `f32` matches
transformers to ~1e-5 and `bf16` rounds once, on the final weights.
"""

import json
import struct
import time
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError

FAMILY_RECIPES = ("bf16", "f32", "q8", "q4", "mixed_4_6", "mixed_3_6")
FAMILY_MODEL_TYPES = ("qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text", "gemma4", "gemma4_text")
SUPPORTED_MODEL_TYPES = ("gpt_oss",) + FAMILY_MODEL_TYPES


def source_model_type(src: Path) -> str:
    from mlxclin.models.checkpoint import read_config

    return read_config(src).get("model_type")


def check_supported(src: Path) -> str:
    """The source's model_type, or one line saying mlxclin does not convert it."""
    model_type = source_model_type(src)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise MlxclinError(f"{src}: model_type {model_type!r} is not supported by mlxclin convert "
                           f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    return model_type


def is_mlx_checkpoint(src: Path, config: dict) -> bool:
    """Already converted (mlx-community style): quantization recorded the MLX way, or shards saved by MLX."""
    if "quantization" in config:
        return True
    shard = next(iter(sorted(src.glob("model*.safetensors"))), None)
    if shard is None:
        return False
    with open(shard, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return header.get("__metadata__", {}).get("format") == "mlx"


def _upcasting_classes(config: dict):
    """mlx-lm's classes for this model type, with sanitize run on float32 tensors (see the module docstring)."""
    import mlx.core as mx
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)

    class Upcast(model_class):
        def sanitize(self, weights):
            weights = {k: v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v
                       for k, v in weights.items()}
            return super().sanitize(weights)

    return Upcast, args_class


def _apply_family_recipe(model, config: dict, recipe: str, group_size: Optional[int]):
    import mlx.core as mx
    from mlx_lm.convert import mixed_quant_predicate_builder
    from mlx_lm.utils import quantize_model

    from mlxclin.models.convert import cast_floats

    dtype_name = "float32" if recipe == "f32" else "bfloat16"
    cast_floats(model, getattr(mx, dtype_name))
    if recipe in ("q8", "q4"):
        model, config = quantize_model(model, config, group_size or 64, int(recipe[1]), mode="affine")
    elif recipe.startswith("mixed_"):
        predicate = mixed_quant_predicate_builder(recipe, model, group_size or 64)
        model, config = quantize_model(model, config, group_size or 64, None, quant_predicate=predicate)
    config["torch_dtype"] = dtype_name
    config["mlxclin_recipe"] = recipe
    return model, config, dtype_name


def convert_family(src: Path, mlx_path, recipe: str = "bf16", group_size: Optional[int] = None, force: bool = False,
                   max_shard_gb: float = 5.0):
    """Convert a Qwen3.5 / Gemma 4 checkpoint folder; returns mlxclin.models.convert.ConvertResult."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import compute_bits_per_weight, get_total_parameters, load_model

    from mlxclin.device import peak_memory_gb, reset_peak_memory
    from mlxclin.models.checkpoint import check_checkpoint, dir_size
    from mlxclin.models.convert import ConvertResult, _module_plan, save_streamed

    if recipe not in FAMILY_RECIPES:
        raise MlxclinError(f"recipe {recipe!r} is not offered for this model family; choose one of "
                           f"{', '.join(FAMILY_RECIPES)}")
    out = Path(mlx_path)
    if out.exists() and not force:
        raise MlxclinError(f"{out} already exists (use --force to overwrite)")
    if out.resolve() == src.resolve():
        raise MlxclinError("--mlx-path must differ from --hf-path")
    model_type = check_supported(src)
    raw = check_checkpoint(src, model_type)
    if is_mlx_checkpoint(src, raw):
        raise MlxclinError(f"{src} is already an MLX checkpoint; load it as it is (mlxclin eval --model {src})")
    t0 = time.perf_counter()
    reset_peak_memory()
    try:
        model, config = load_model(src, lazy=True, get_model_classes=_upcasting_classes)
    except ValueError as e:  # mlx-lm reports missing/extra parameters as ValueError
        raise MlxclinError(f"{src}: weights do not match a {model_type} model: {e}") from e
    source = dict(tree_flatten(model.parameters()))   # lazy: each module is read when it is written
    model, config, dtype_name = _apply_family_recipe(model, config, recipe, group_size)
    groups, quantized = _module_plan(model)
    bpw, total_parameters = compute_bits_per_weight(model), get_total_parameters(model)
    del model   # its lazy graph would keep every source array alive (same streamed writer as gpt-oss convert)
    save_streamed(groups, quantized, source, {}, getattr(mx, dtype_name), config, src, out, total_parameters,
                  int(max_shard_gb * (1 << 30)))
    mx.clear_cache()
    return ConvertResult(out, recipe, dtype_name, dir_size(out), bpw, peak_memory_gb(), time.perf_counter() - t0)
