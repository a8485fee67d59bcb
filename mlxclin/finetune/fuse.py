"""Merge LoRA adapters into the weights (mlx-lm's `fuse` on each LoRA layer) and measure what merging costs.

Attention projections are dense in every mlxclin recipe, so W + scale * B A is exact there. Expert projections of
an MXFP4 (or affine-quantized) model must be re-quantized after the merge to keep the model's size: the low-rank
update then passes through 4-bit rounding and may be partly lost. `--dequantize-experts` keeps the merged experts
dense instead (bfloat16 on disk, like the other dense weights): only bfloat16 rounding remains, at about four
times the size of MXFP4 experts.

The report compares next-token logits of the fused model (reloaded from disk, as users will load it) with the
unfused base + adapter model on a fixed Harmony-rendered clinical example, next to how far the adapter moved the
base model: a fusion error much smaller than the adapter's effect means fusing kept the fine-tuning.
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


@dataclass
class FuseReport:
    out: Path
    fused_modules: dict          # kind -> count
    experts_requantized: bool
    expert_format: str           # e.g. "mxfp4", "affine 4-bit", "dense"
    max_abs_logit_change: float  # fused vs base + adapter
    mean_abs_logit_change: float
    top1_agreement: float        # share of positions whose argmax token is unchanged
    adapter_mean_abs_effect: float  # base + adapter vs base alone


def _probe_ids() -> list:
    from mlxclin.harmony import render_training_example

    return render_training_example(PROBE_MESSAGES, "low")[0]


def _logits(model, ids):
    import mlx.core as mx

    out = model(mx.array([ids]))[0].astype(mx.float32)
    mx.eval(out)
    return out


def _set_lora_scale(model, factor: float) -> list:
    """Multiply every LoRA layer's scale (0 = base model); returns the previous scales to restore."""
    saved = []
    for _, m in model.named_modules():
        if hasattr(m, "lora_a"):
            saved.append((m, m.scale))
            m.scale = m.scale * factor
    return saved


def fuse(model_path, adapter_path, out, dequantize: bool = False, force: bool = False) -> FuseReport:
    import mlx.core as mx
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import save_config, save_model

    from mlxclin.finetune.lora import ADAPTER_CONFIG, module_kind
    from mlxclin.models.checkpoint import TOKENIZER_FILES
    from mlxclin.models.gpt_oss import load

    model_path, adapter_path, out = Path(model_path), Path(adapter_path), Path(out)
    if not (adapter_path / ADAPTER_CONFIG).is_file():
        raise MlxclinError(f"{adapter_path} holds no {ADAPTER_CONFIG}; pass the folder `mlxclin finetune` wrote")
    if out.exists() and not force:
        raise MlxclinError(f"{out} already exists (use --force to overwrite)")
    if out.resolve() in (model_path.resolve(), adapter_path.resolve()):
        raise MlxclinError("--out must differ from --model and --adapter-path")

    model, _, config = load(model_path, adapter_path=adapter_path)
    ids = _probe_ids()
    with_adapter = _logits(model, ids)
    saved = _set_lora_scale(model, 0.0)
    base = _logits(model, ids)
    for m, scale in saved:
        m.scale = scale

    fused, counts, requantized, expert_format = [], {}, False, "dense"
    for name, module in model.named_modules():
        if not hasattr(module, "fuse"):
            continue
        kind = module_kind(name)
        quantized = hasattr(module.linear, "scales")
        if kind == "experts" and quantized:
            expert_format = (module.linear.mode if module.linear.mode != "affine"
                             else f"affine {module.linear.bits}-bit")
            requantized = requantized or not dequantize
        layer = module.fuse(dequantize=dequantize)
        if dequantize and kind == "experts" and hasattr(layer, "weight"):
            layer.weight = layer.weight.astype(mx.bfloat16)  # dense experts are stored like a bf16 checkpoint
        fused.append((name, layer))
        counts[kind] = counts.get(kind, 0) + 1
    if not fused:
        raise MlxclinError(f"{adapter_path} added no LoRA layers to the model; nothing to fuse")
    model.update_modules(tree_unflatten(fused))

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp, model)
    adapter_doc = json.loads((adapter_path / ADAPTER_CONFIG).read_text())
    config["mlxclin_fused"] = {"adapter_path": str(adapter_path), "experts_requantized": requantized,
                               "lora_parameters": adapter_doc.get("lora_parameters")}
    save_config(config, tmp / "config.json")
    for f in TOKENIZER_FILES:
        if (model_path / f).exists():
            shutil.copyfile(model_path / f, tmp / f)
    del model
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)

    reloaded, _, _ = load(out)
    after = _logits(reloaded, ids)
    change = mx.abs(after - with_adapter)
    agree = mx.mean(mx.argmax(after, axis=-1) == mx.argmax(with_adapter, axis=-1))
    return FuseReport(out, counts, requantized, expert_format if counts.get("experts") else "not adapted",
                      change.max().item(), change.mean().item(), agree.item(),
                      mx.abs(with_adapter - base).mean().item())


def format_fuse_report(r: FuseReport) -> str:
    modules = ", ".join(f"{k} {n}" for k, n in sorted(r.fused_modules.items()))
    if r.experts_requantized:
        experts = f"experts re-quantized to {r.expert_format} after merging (lossy)"
    elif r.expert_format in ("dense", "not adapted"):
        experts = f"experts {r.expert_format}: no re-quantization"
    else:
        experts = f"experts kept dense (bfloat16) instead of re-quantizing to {r.expert_format}: larger"
    return "\n".join([
        f"fused model -> {r.out} ({modules} LoRA layers merged; {experts})",
        f"  logit change fused vs base + adapter: max {r.max_abs_logit_change:.4g}, "
        f"mean {r.mean_abs_logit_change:.4g}; top-1 token unchanged at {100 * r.top1_agreement:.1f}% of positions",
        f"  for scale: the adapter itself moves the base model's logits by {r.adapter_mean_abs_effect:.4g} on average",
    ])
