"""`convert --verify` for Qwen3.5 and Gemma 4: the converted model against transformers' implementation of the same
model type (AutoModelForCausalLM on CPU torch, float32) on the source checkpoint.

Prompts are `verify.PROMPTS` rendered through the checkpoint's own chat template with thinking on; the longest one
must be longer than every sliding window in the config (checked, so a toy with a large window cannot pass
vacuously). The converted weights are upcast to float32 before running, so both sides compute in float32 and the
check measures the conversion (layouts, sanitize, config), not bf16 arithmetic.

What the reference runs, per recipe:
  f32, q8, q4, mixed_*   the source weights as stored (bf16 in the toys and the released checkpoints), in float32.
  bf16   the source weights with the recipe's one rounding applied, in float32: every floating parameter rounded
         to bf16 as the converted checkpoint stores it. For a bf16 source that changes one thing: Qwen3.5's
         zero-centred RMSNorm weights w (transformers computes 1 + w; mlx-lm's sanitize stores 1 + w), which the
         checkpoint holds as bf16(1 + w), so the reference gets w' = bf16(1 + w) - 1 (exact in float32). Keeping
         those norms in float32 instead is not an option: mx.fast.rms_norm returns float32 for a float32 weight,
         which would silently run every layer after it in float32. The rounding itself (bf16 checkpoint against
         the unrounded source) is measured on the random Qwen3.5 toys at max |delta| 0.013 (dense) and 0.23 (MoE,
         a router choice flipping), KL <= 7e-6, top-1 99.1-100 % (near-tied tokens); tests bound it by KL <= 1e-3.
Thresholds (max |delta logit| over every position and the whole vocabulary; top-1 agreement; mean KL):
  f32, bf16   max |delta| <= 1e-3 and top-1 on every position (measured on the toys: <= 1e-5 for both)
  q8      KL <= 0.02, top-1 >= 85 %;  q4, mixed_4_6: KL <= 0.1, top-1 >= 40 %;  mixed_3_6: KL <= 0.3, top-1 >= 20 %
          (measured q8 KL <= 2.2e-4, q4 <= 0.034, mixed_3_6 <= 0.15)
Quantized recipes are judged by KL against the unrounded source: random toy weights are harder to quantize than
trained ones and their logits are nearly flat (std ~0.7 over a ~660-token vocabulary), so top-1 on every position
is not a meaningful demand there; the limits catch broken packing, layouts or configs (KL > 1), not small quality
differences.
"""

from pathlib import Path

from mlxclin.errors import MlxclinError
from mlxclin.models.verify import PROMPTS, PromptResult, VerifyReport, compare_logits, mlx_logits

FAMILY_THRESHOLDS = {  # recipe -> (max |delta logit| or None, minimum top-1 agreement, maximum mean KL or None)
    "f32": (1e-3, 1.0, None), "bf16": (1e-3, 1.0, None), "q8": (None, 0.85, 0.02),
    "q4": (None, 0.4, 0.1), "mixed_4_6": (None, 0.4, 0.1), "mixed_3_6": (None, 0.2, 0.3),
}


def sliding_windows(config: dict) -> list:
    text = config.get("text_config", config)
    return [w for w in (config.get("sliding_window"), text.get("sliding_window")) if w]


def family_prompt_ids(src: Path) -> dict:
    from mlx_lm.utils import load_tokenizer

    from mlxclin.models.checkpoint import read_config
    from mlxclin.models.families import family_of, render_prompt

    config = read_config(src)
    family = family_of(config)
    tokenizer = load_tokenizer(src)
    prompts = {name: render_prompt(tokenizer, family, msgs, "high") for name, msgs in PROMPTS.items()}
    longest = max(len(ids) for ids in prompts.values())
    too_short = [w for w in sliding_windows(config) if w >= longest]
    if too_short:
        raise MlxclinError(f"verify prompts ({longest} tokens) are not longer than the sliding window {too_short[0]}")
    return prompts


# transformers' RMSNorm classes that scale by (1 + weight): mlx-lm's sanitize stores 1 + weight for these
ZERO_CENTRED_NORMS = ("Qwen3_5RMSNorm", "Qwen3_5MoeRMSNorm")


def round_like_bf16_checkpoint(model) -> int:
    """Round a float32 torch model's parameters the way the bf16 recipe stores them (module docstring); returns
    how many zero-centred norm weights were rounded as bf16(1 + w) - 1."""
    import torch

    zero_centred = 0
    with torch.no_grad():
        for module in model.modules():
            shifted = type(module).__name__ in ZERO_CENTRED_NORMS
            for param in module.parameters(recurse=False):
                if not param.is_floating_point():
                    continue
                if shifted:
                    param.copy_((1.0 + param).to(torch.bfloat16).float() - 1.0)
                else:
                    param.copy_(param.to(torch.bfloat16).float())
            zero_centred += shifted
    return zero_centred


def transformers_family_reference(src: Path, round_to_bf16: bool = False):
    """(run(ids) -> float32 logits, description of what runs)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise MlxclinError("--verify for this family needs torch and transformers (pip install torch transformers)")
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    model.eval()
    name = "transformers (CPU torch, float32)"
    if round_to_bf16:
        shifted = round_like_bf16_checkpoint(model)
        name = (f"transformers (CPU torch, float32; weights rounded to bf16 as stored, "
                f"{shifted} zero-centred norms as bf16(1 + w) - 1)")

    def run(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].float().numpy()

    return run, name


def verify_family(src: Path, mlx_path, recipe: str) -> VerifyReport:
    import mlx.core as mx

    from mlxclin.models.convert import cast_floats
    from mlxclin.models.gpt_oss import load

    prompts = family_prompt_ids(src)
    ref, ref_name = transformers_family_reference(src, round_to_bf16=recipe == "bf16")
    model, _, _ = load(mlx_path)
    cast_floats(model, mx.float32)
    report = VerifyReport(recipe, ref_name, *FAMILY_THRESHOLDS[recipe])
    for name, ids in prompts.items():
        diff, agree, kl = compare_logits(ref(ids), mlx_logits(model, ids))
        report.prompts.append(PromptResult(name, len(ids), diff, agree, kl))
    return report
