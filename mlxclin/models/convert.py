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

The recipe is applied to the lazily loaded model only to learn the output's names, shapes, dtypes and config; the
data is then computed module by module in row chunks from the source tensors and streamed into the output files,
so peak memory follows the largest source tensor plus one chunk, not the model or an output shard.
Default --dtype: bfloat16 with Metal or CUDA, float32 on a CPU (see default_dtype).
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
    dtype_note: str = ""


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


def default_dtype() -> tuple:
    """(dtype of the non-expert weights and thus of the activations, why). Off Metal and CUDA, MLX's CPU quantized
    kernels are ~7-14x slower with bfloat16 activations than float32 (gather_qmm, 32 experts of 2880x5760, one
    token x 4 experts: mxfp4 514 vs 36 ms, affine 4-bit 872 vs 120 ms, measured with mlx 0.32 on this project's
    CI CPU), so float32 is the default there even though dense weights take twice the space."""
    import mlx.core as mx

    from mlxclin.device import metal_available

    cuda = getattr(mx, "cuda", None)
    if metal_available() or (cuda is not None and cuda.is_available()):
        return "bfloat16", "bfloat16 (default with an accelerator)"
    return "float32", ("float32 (default without Metal/CUDA: MLX's CPU quantized kernels are ~10x faster with "
                       "float32 activations; --dtype bfloat16 halves the dense weights)")


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of an output tensor. Not the lazy array: that would keep its source alive once read."""
    shape: tuple
    dtype: object
    nbytes: int


def _module_plan(model) -> tuple:
    """Output parameters grouped by module, in save order: [(module path, {attr: TensorSpec})], and
    {module path: (mode, group_size, bits)} for every quantized module."""
    from mlx.utils import tree_flatten

    groups = {}
    for name, value in tree_flatten(model.parameters()):
        path, attr = name.rsplit(".", 1)
        groups.setdefault(path, {})[attr] = TensorSpec(tuple(value.shape), value.dtype, value.nbytes)
    quantized = {path: (m.mode, m.group_size, m.bits) for path, m in model.named_modules()
                 if hasattr(m, "scales") and hasattr(m, "bits")}
    return list(groups.items()), quantized


def _module_rows(path, attrs, source, src_quant, out_quant, dtype, lo, hi) -> dict:
    """One row range [lo, hi) (axis 0) of every output parameter of a module, from the source's same rows:
    the recipe applied to a slice equals the recipe applied to the whole, because every step (cast, MXFP4
    dequantization, affine quantization along the last axis) is row-wise."""
    import mlx.core as mx

    src = {a: v[lo:hi] for a, v in source.items()}
    out = {}
    if out_quant is not None and out_quant != src_quant:
        weight = src["weight"]
        if src_quant is not None:
            weight = mx.dequantize(weight, src["scales"], src.get("biases"), src_quant[1], src_quant[2], src_quant[0])
        mode, group_size, bits = out_quant
        parts = mx.quantize(weight.astype(dtype), group_size, bits, mode=mode)
        out.update(zip(("weight", "scales", "biases"), parts))
    elif out_quant is None and src_quant is not None:
        out["weight"] = mx.dequantize(src["weight"], src["scales"], src.get("biases"), src_quant[1], src_quant[2],
                                      src_quant[0]).astype(dtype)
    for attr in attrs:
        if attr not in out:
            v = src[attr]
            out[attr] = v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v
    return out


def _shard_groups(groups: list, max_bytes: int) -> list:
    """Modules in order, cut into files of at most max_bytes (a module is never split across files)."""
    shards, size = [], 0
    for path, attrs in groups:
        nbytes = sum(v.nbytes for v in attrs.values())
        if not shards or size + nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append((path, attrs))
        size += nbytes
    return shards


def _write_streamed(groups, quantized, source, src_quant, dtype, out: Path, max_shard_bytes: int) -> dict:
    """Compute and write every output module chunk by chunk; a module's source arrays are dropped once it is
    written, so memory holds one module's source tensors plus one chunk's work. Returns the weight map."""
    import mlx.core as mx
    from tqdm import tqdm

    from mlxclin.models.safetensors_stream import SafetensorsWriter, row_chunks, safetensors_dtype

    shards = _shard_groups(groups, max_shard_bytes)
    name = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    weight_map = {}
    bar = tqdm(total=sum(v.nbytes for _, a in groups for v in a.values()), unit="B", unit_scale=True,
               desc="converting", leave=False)
    for i, shard in enumerate(shards):
        fname = name.format(i + 1, len(shards))
        specs = [(f"{p}.{a}", safetensors_dtype(v.dtype), v.shape) for p, attrs in shard for a, v in attrs.items()]
        with SafetensorsWriter(out / fname, specs, {"format": "mlx"}) as writer:
            for path, attrs in shard:
                mine = {k.rsplit(".", 1)[1]: source.pop(k) for k in list(source) if k.rsplit(".", 1)[0] == path}
                mx.eval(*mine.values())
                rows = next(iter(attrs.values())).shape[0]  # every parameter of a module shares axis 0
                # <= 32 bytes of work per stored source element (an MXFP4 uint32 word unpacks to 8 floats)
                row_bytes = max(32 * v.size // max(v.shape[0], 1) for v in mine.values())
                for lo, hi in row_chunks(rows, row_bytes):
                    chunk = _module_rows(path, attrs, mine, src_quant.get(path), quantized.get(path), dtype, lo, hi)
                    for attr, value in chunk.items():
                        expected = attrs[attr]
                        if value.dtype != expected.dtype or tuple(value.shape[1:]) != expected.shape[1:]:
                            raise RuntimeError(f"{path}.{attr}: chunk {value.dtype}{value.shape} does not match "
                                               f"the recipe's {expected.dtype}{expected.shape}")
                        mx.eval(value)
                        writer.write(f"{path}.{attr}", value, lo)
                        bar.update(value.nbytes)
                    del chunk
                del mine
                mx.clear_cache()
        weight_map.update({n: fname for n, _, _ in specs})
    bar.close()
    return dict(sorted(weight_map.items()))


def save_streamed(groups, quantized, source, src_quant, dtype, config: dict, src: Path, out: Path,
                  total_parameters: int, max_shard_bytes: int) -> None:
    """Write the planned model to `out` through `out.partial`, so a failed or interrupted convert never leaves a
    half-written folder where a model is expected (an existing `out` is replaced only at the end)."""
    from mlx_lm.utils import save_config

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        total = sum(v.nbytes for _, attrs in groups for v in attrs.values())
        weight_map = _write_streamed(groups, quantized, source, src_quant, dtype, tmp, max_shard_bytes)
        index = {"metadata": {"total_size": total, "total_parameters": total_parameters}, "weight_map": weight_map}
        (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        save_config(config, tmp / "config.json")
        for f in TOKENIZER_FILES:
            if (src / f).exists():
                shutil.copyfile(src / f, tmp / f)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def convert(hf_path: str, mlx_path, recipe: str = "mxfp4", group_size: Optional[int] = None,
            dtype: Optional[str] = None, force: bool = False, max_shard_gb: float = 5.0) -> ConvertResult:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import compute_bits_per_weight, get_total_parameters, load_model

    from mlxclin.device import reset_peak_memory, peak_memory_gb
    from mlxclin.models.gpt_oss import model_classes, normalize_config

    if recipe not in RECIPES:
        raise MlxclinError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    auto_dtype, dtype_note = default_dtype()
    dtype_name = {"bf16": "bfloat16", "f32": "float32"}.get(recipe) or DTYPES.get(dtype or auto_dtype)
    if dtype or recipe in ("bf16", "f32"):
        dtype_note = f"{dtype_name} (asked for)"
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
    source = dict(tree_flatten(model.parameters()))   # lazy: nothing is read until a module is written
    src_quant = _module_plan(model)[1]
    model, config = apply_recipe(model, config, recipe, dtype_name, group_size)   # lazy too: shapes and config
    groups, quantized = _module_plan(model)
    bpw, total_parameters = compute_bits_per_weight(model), get_total_parameters(model)
    del model   # its lazy graph would keep every source array it touches alive once evaluated
    save_streamed(groups, quantized, source, src_quant, getattr(mx, dtype_name), config, src, out, total_parameters,
                  int(max_shard_gb * (1 << 30)))
    mx.clear_cache()
    return ConvertResult(out, recipe, dtype_name, dir_size(out), bpw, peak_memory_gb(), time.perf_counter() - t0,
                         dtype_note)
