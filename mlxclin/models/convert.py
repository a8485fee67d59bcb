"""Hugging Face gpt-oss -> MLX with a quantization recipe, on top of mlx-lm's loading, quantization and saving.

Recipes (experts are the MoE SwitchGLU projections; "the rest" is attention, router, embeddings, lm_head):
  mxfp4     experts stay MXFP4 bit for bit (mlx-lm's sanitize only reinterprets and re-slices the packed bytes);
            the rest in --dtype (default bfloat16)
  mxfp4-q8  experts MXFP4; attention projections, embeddings and lm_head affine 8-bit
  q4, q8    everything affine at that width: MXFP4 experts are dequantized, then re-quantized (mlx-lm's own
            `-q --q-bits 8` would silently keep the MXFP4 experts); the router follows mlx-lm's gpt-oss predicate (8-bit)
  bf16, f32 everything dense in that dtype (on Linux CPU, dense MoE experts only run in float32)

--group-size (32, 64 default, 128) sets the affine groups of q4, q8 and mxfp4-q8 (MXFP4 groups are always 32).
It decides how many ways `--shard tensor` can split the experts: their down projection is split along whole
groups, so gpt-oss's intermediate size 2,880 splits 2 ways with groups of 32 (90 groups, also mxfp4) but not at
all with 64 (45 groups); `mlxclin.distributed.check_tensor_split` says which group size a split needs.

The source is read lazily and the output is written shard by shard, so peak memory stays near one shard.
The output goes to a temporary folder beside DST and is moved into place only when complete.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError
from mlxclin.models.checkpoint import TOKENIZER_FILES, check_checkpoint, dir_size, resolve_source

RECIPES = ("mxfp4", "mxfp4-q8", "q4", "q8", "bf16", "f32")
DTYPES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
          "float32": "float32", "f32": "float32"}
AFFINE_RECIPES = ("mxfp4-q8", "q4", "q8")
GROUP_SIZES = (32, 64, 128)   # what mx.quantize accepts in affine mode
ATTENTION_EMBEDDING = ("q_proj", "k_proj", "v_proj", "o_proj", "embed_tokens", "lm_head")


@dataclass
class ConvertResult:
    path: Path
    recipe: str
    dtype: str
    size_bytes: int
    bits_per_weight: float
    peak_memory_gb: float
    seconds: float


def cast_floats(model, dtype):
    import mlx.core as mx
    from mlx.utils import tree_map

    model.update(tree_map(lambda v: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v,
                          model.parameters()))


def apply_recipe(model, config: dict, recipe: str, dtype_name: str, group_size: Optional[int]):
    """Transform a freshly loaded (MXFP4-expert) model in place; returns the config to save."""
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model, quantize_model

    dtype = getattr(mx, dtype_name)
    if recipe in ("bf16", "f32", "q4", "q8"):
        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    cast_floats(model, dtype)  # quantized weights/scales are integers and untouched by the cast
    if recipe == "mxfp4-q8":
        predicate = lambda path, _: path.split(".")[-1] in ATTENTION_EMBEDDING  # noqa: E731
        model, config = quantize_model(model, config, group_size or 64, 8, mode="affine", quant_predicate=predicate)
    elif recipe in ("q4", "q8"):
        model, config = quantize_model(model, config, group_size or 64, int(recipe[1]), mode="affine")
    config["torch_dtype"] = dtype_name  # persisted: mlx-lm and transformers both read it
    config.pop("dtype", None)
    config["mlxclin_recipe"] = recipe
    return model, config


def _save(model, config: dict, src: Path, out: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import get_total_parameters, make_shards, save_config
    from tqdm import tqdm

    out.mkdir(parents=True)
    weights = dict(tree_flatten(model.parameters()))
    total = sum(v.nbytes for v in weights.values())
    shards = make_shards(weights)
    del weights
    index = {"metadata": {"total_size": total, "total_parameters": get_total_parameters(model)}, "weight_map": {}}
    name = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    for i in tqdm(range(len(shards)), desc="writing shards", unit="shard", leave=False):
        shard, shards[i] = shards[i], None  # drop our reference so each shard is freed after writing
        fname = name.format(i + 1, len(shards))
        mx.save_safetensors(str(out / fname), shard, metadata={"format": "mlx"})
        index["weight_map"].update({k: fname for k in shard})
        del shard
    index["weight_map"] = dict(sorted(index["weight_map"].items()))
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    save_config(config, out / "config.json")
    for f in TOKENIZER_FILES:
        if (src / f).exists():
            shutil.copyfile(src / f, out / f)


def convert(hf_path: str, mlx_path, recipe: str = "mxfp4", group_size: Optional[int] = None,
            dtype: Optional[str] = None, force: bool = False) -> ConvertResult:
    import mlx.core as mx
    from mlx_lm.utils import compute_bits_per_weight, load_model

    from mlxclin.device import reset_peak_memory, peak_memory_gb
    from mlxclin.models.gpt_oss import model_classes, normalize_config

    if recipe not in RECIPES:
        raise MlxclinError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    dtype_name = {"bf16": "bfloat16", "f32": "float32"}.get(recipe) or DTYPES.get(dtype or "bfloat16")
    if dtype_name is None:
        raise MlxclinError(f"unknown dtype {dtype!r}; choose bfloat16, float16 or float32")
    if group_size is not None and recipe not in AFFINE_RECIPES:
        raise MlxclinError(f"--group-size applies to the affine recipes ({', '.join(AFFINE_RECIPES)}); recipe "
                           f"{recipe} has none (MXFP4 groups are always 32)")
    if group_size is not None and group_size not in GROUP_SIZES:
        raise MlxclinError(f"--group-size {group_size} is not supported; choose {', '.join(map(str, GROUP_SIZES))}")
    if recipe in ("bf16", "f32") and dtype and DTYPES.get(dtype) != dtype_name:
        raise MlxclinError(f"recipe {recipe} fixes the dtype to {dtype_name}; drop --dtype {dtype}")
    out = Path(mlx_path)
    if out.exists() and not force:
        raise MlxclinError(f"{out} already exists (use --force to overwrite)")
    src = resolve_source(hf_path)
    if out.resolve() == src.resolve():
        raise MlxclinError("--mlx-path must differ from --hf-path")
    raw = check_checkpoint(src)
    t0 = time.perf_counter()
    reset_peak_memory()
    overrides = {k: v for k, v in normalize_config(raw).items() if raw.get(k) != v}
    try:
        model, config = load_model(src, lazy=True, model_config=overrides, get_model_classes=model_classes)
    except ValueError as e:  # mlx-lm reports missing/extra parameters as ValueError
        raise MlxclinError(f"{src}: weights do not match a gpt-oss model: {e}") from e
    for key in ("rope_parameters", "dtype"):
        config.pop(key, None)  # normalized into rope_theta / rope_scaling / torch_dtype
    # rope_scaling keeps `truncate: false`; mlxclin's loader (models.gpt_oss.load) applies the YaRN fix from it
    model, config = apply_recipe(model, config, recipe, dtype_name, group_size)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _save(model, config, src, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    bpw = compute_bits_per_weight(model)
    mx.clear_cache()
    return ConvertResult(out, recipe, dtype_name, dir_size(out), bpw, peak_memory_gb(), time.perf_counter() - t0)
