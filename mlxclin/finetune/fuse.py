"""Merge LoRA adapters into the weights and measure, in float32, what merging costs.

Each merged weight is W + scale * B A computed in float32 (W dequantized exactly from MXFP4 / affine when the layer
is quantized), then stored once:
  - dense layers (attention): in --fused-dtype (default the model's bfloat16: one rounding, relative error
    <= 2^-8 per element; float32: exactly the float32 sum);
  - quantized experts, by default: re-quantized to their format (MXFP4) to keep the model's size; the low-rank
    update then passes through 4-bit rounding and may be partly lost;
  - quantized experts with `--dequantize-experts`: kept dense in --fused-dtype like the attention weights (about 4x
    the size of MXFP4 experts in bfloat16, 8x in float32).
(mlx-lm's own `fuse` rounds the update to bfloat16 before adding it, a second rounding this module avoids.)

The report gives the weight error (largest |stored - exact| relative to the largest |exact| weight) and the
next-token logits on a fixed Harmony-rendered clinical example, all computed in float32 so that bfloat16 arithmetic
noise is not mistaken for a fusion error: fused (reloaded from disk, as users load it) vs base + adapter, next to
how far the adapter moves the base model and how far the fused model is from the base (a fused model that behaves
like the base, as reported for some gpt-oss fusions elsewhere, shows up as "fused vs base" near zero).
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlxclin.errors import MlxclinError

PROBE_MESSAGES = [
    {"role": "system", "content": "You act as a meticulous radiologist who chooses a diagnosis from a fixed list."},
    {"role": "user", "content": "A 45-year-old woman with chronic cough. CT shows a spiculated 2 cm nodule in the "
                                "right upper lobe with pleural retraction.\n\nCandidate diagnoses (pick one):\n"
                                "- Lung adenocarcinoma\n- Tuberculoma\n- Hamartoma"},
    {"role": "assistant", "content": "Lung adenocarcinoma", "thinking": "Spiculation and pleural retraction point "
                                                                        "to malignancy."},
]
FUSED_DTYPES = ("bfloat16", "float32")
LOST_EFFECT_ADVICE = 0.25   # a fusion error above this share of the adapter's effect gets advice


@dataclass
class FuseReport:
    out: Path
    fused_modules: dict          # kind -> count
    experts_requantized: bool
    expert_format: str           # e.g. "mxfp4", "affine 4-bit", "dense"
    fused_dtype: str             # dtype of the merged dense weights
    max_weight_error: float      # max |stored - exact float32 merge| / max |exact|, over merged layers
    max_abs_logit_change: float  # fused vs base + adapter, float32
    mean_abs_logit_change: float
    top1_agreement: float        # share of positions whose argmax token is unchanged
    adapter_mean_abs_effect: float  # base + adapter vs base alone, float32
    fused_vs_base: float         # fused vs base alone, float32 (near 0: the fusion lost the fine-tuning)


def _probe_ids() -> list:
    from mlxclin.harmony import render_training_example

    return render_training_example(PROBE_MESSAGES, "low")[0]


def _logits(model, ids):
    import mlx.core as mx

    out = model(mx.array([ids]))[0].astype(mx.float32)
    mx.eval(out)
    return out


def _float32_logits(model, ids):
    """Logits with every floating weight in float32 (quantized weights dequantize exactly in any dtype); the
    model's own weights are put back afterwards."""
    import mlx.core as mx

    weights = model.parameters()
    model.set_dtype(mx.float32)
    out = _logits(model, ids)
    model.update(weights)
    return out


def _set_lora_scale(model, factor: float) -> list:
    """Multiply every LoRA layer's scale (0 = base model); returns the previous scales to restore."""
    saved = []
    for _, m in model.named_modules():
        if hasattr(m, "lora_a"):
            saved.append((m, m.scale))
            m.scale = m.scale * factor
    return saved


def exact_merge(module):
    """W + scale * B A of a LoRALinear / LoRASwitchLinear in float32 (the formulas of mlx-lm's fuse)."""
    import mlx.core as mx

    linear = module.linear
    if hasattr(linear, "scales"):
        weight = mx.dequantize(linear.weight, linear.scales, linear.get("biases"), group_size=linear.group_size,
                               bits=linear.bits, mode=linear.mode, dtype=mx.float32)
    else:
        weight = linear.weight.astype(mx.float32)
    a, b = module.lora_a.astype(mx.float32), module.lora_b.astype(mx.float32)
    if weight.ndim == 3:   # experts: lora_b (E, out, r), lora_a (E * r, in)
        delta = (module.scale * b) @ a.reshape(weight.shape[0], -1, weight.shape[2])
    else:                  # lora_a (in, r), lora_b (r, out)
        delta = (module.scale * b.T) @ a.T
    return weight + delta


def merged_layer(module, dequantize: bool, dtype):
    """(new layer, merged float32 weight) for one LoRA layer; stored as described in the module docstring."""
    import mlx.nn as nn
    from mlx_lm.models.switch_layers import SwitchLinear

    linear, merged = module.linear, exact_merge(module)
    if merged.ndim == 3:
        layer = SwitchLinear(merged.shape[2], merged.shape[1], merged.shape[0], bias="bias" in linear)
    else:
        layer = nn.Linear(merged.shape[1], merged.shape[0], bias="bias" in linear)
    layer.weight = merged
    if "bias" in linear:
        layer.bias = linear.bias
    if hasattr(linear, "scales") and not dequantize:
        return layer.to_quantized(group_size=linear.group_size, bits=linear.bits, mode=linear.mode), merged
    layer.weight = merged.astype(dtype)
    return layer, merged


def _stored_weight(layer):
    import mlx.core as mx

    if hasattr(layer, "scales"):
        return mx.dequantize(layer.weight, layer.scales, layer.get("biases"), group_size=layer.group_size,
                             bits=layer.bits, mode=layer.mode, dtype=mx.float32)
    return layer.weight.astype(mx.float32)


def _merge_all(model, dequantize: bool, dtype) -> tuple:
    """Replace every LoRA layer; returns (counts per kind, expert format, experts re-quantized, max weight error)."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    from mlxclin.finetune.lora import module_kind

    fused, counts, expert_format, requantized, worst = [], {}, "dense", False, 0.0
    for name, module in model.named_modules():
        if not hasattr(module, "lora_a"):
            continue
        kind = module_kind(name)
        if kind == "experts" and hasattr(module.linear, "scales"):
            linear = module.linear
            expert_format = linear.mode if linear.mode != "affine" else f"affine {linear.bits}-bit"
            requantized = requantized or not dequantize
        layer, merged = merged_layer(module, dequantize, dtype)
        error = mx.abs(_stored_weight(layer) - merged).max() / mx.maximum(mx.abs(merged).max(), 1e-30)
        worst = max(worst, error.item())
        fused.append((name, layer))
        counts[kind] = counts.get(kind, 0) + 1
    model.update_modules(tree_unflatten(fused))
    return counts, expert_format, requantized, worst


def fuse(model_path, adapter_path, out, dequantize: bool = False, force: bool = False,
         fused_dtype: str = "bfloat16") -> FuseReport:
    import mlx.core as mx
    from mlx_lm.utils import save_config, save_model

    from mlxclin.models.checkpoint import TOKENIZER_FILES
    from mlxclin.models.folders import check_adapter_folder
    from mlxclin.models.gpt_oss import load

    model_path, adapter_path, out = Path(model_path), Path(adapter_path), Path(out)
    if fused_dtype not in FUSED_DTYPES:
        raise MlxclinError(f"--fused-dtype {fused_dtype!r}: choose {' or '.join(FUSED_DTYPES)}")
    adapter_doc = check_adapter_folder(adapter_path)
    if out.exists() and not force:
        raise MlxclinError(f"{out} already exists (use --force to overwrite)")
    if out.resolve() in (model_path.resolve(), adapter_path.resolve()):
        raise MlxclinError("--out must differ from --model and --adapter-path")

    model, _, config = load(model_path, adapter_path=adapter_path)
    ids = _probe_ids()
    with_adapter = _float32_logits(model, ids)
    saved = _set_lora_scale(model, 0.0)
    base = _float32_logits(model, ids)
    for module, scale in saved:
        module.scale = scale
    counts, expert_format, requantized, weight_error = _merge_all(model, dequantize, getattr(mx, fused_dtype))
    if not counts:
        raise MlxclinError(f"{adapter_path} added no LoRA layers to the model; nothing to fuse")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp, model)
    config["mlxclin_fused"] = {"adapter_path": str(adapter_path), "experts_requantized": requantized,
                               "fused_dtype": fused_dtype, "lora_parameters": adapter_doc.get("lora_parameters")}
    save_config(config, tmp / "config.json")
    for f in TOKENIZER_FILES:
        if (model_path / f).exists():
            shutil.copyfile(model_path / f, tmp / f)
    del model
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    fused_model, _, _ = load(out)   # as users will load it
    after = _float32_logits(fused_model, ids)
    change = mx.abs(after - with_adapter)
    agree = mx.mean(mx.argmax(after, axis=-1) == mx.argmax(with_adapter, axis=-1))
    return FuseReport(out, counts, requantized, expert_format if counts.get("experts") else "not adapted",
                      fused_dtype, weight_error, change.max().item(), change.mean().item(), agree.item(),
                      mx.abs(with_adapter - base).mean().item(), mx.abs(after - base).mean().item())


def format_fuse_report(r: FuseReport) -> str:
    modules = ", ".join(f"{k} {n}" for k, n in sorted(r.fused_modules.items()))
    if r.experts_requantized:
        experts = f"experts re-quantized to {r.expert_format} after merging (lossy)"
    elif r.expert_format in ("dense", "not adapted"):
        experts = f"experts {r.expert_format}: no re-quantization"
    else:
        experts = f"experts kept dense ({r.fused_dtype}) instead of re-quantizing to {r.expert_format}: larger"
    lines = [
        f"fused model -> {r.out} ({modules} LoRA layers merged; dense merged weights in {r.fused_dtype}; {experts})",
        f"  weight error: max |stored - exact float32 merge| = {r.max_weight_error:.3g} of the largest weight",
        f"  logit change fused vs base + adapter (float32): max {r.max_abs_logit_change:.4g}, "
        f"mean {r.mean_abs_logit_change:.4g}; top-1 token unchanged at {100 * r.top1_agreement:.1f}% of positions",
        f"  for scale: the adapter moves the base model's logits by {r.adapter_mean_abs_effect:.4g} on average; "
        f"the fused model is {r.fused_vs_base:.4g} from the base",
    ]
    if r.adapter_mean_abs_effect > 0 and r.mean_abs_logit_change > LOST_EFFECT_ADVICE * r.adapter_mean_abs_effect:
        lines.append(f"  advice: the fusion error is {r.mean_abs_logit_change / r.adapter_mean_abs_effect:.0%} of "
                     f"the adapter's own effect; evaluate the fused model before trusting it, keep the adapter "
                     f"unfused (mlxclin eval --adapter-path), or fuse with --dequantize-experts")
    return "\n".join(lines)
