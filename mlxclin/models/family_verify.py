"""`convert --verify` for Qwen3.5 and Gemma 4: the converted model against transformers' implementation of the same
model type (AutoModelForCausalLM on CPU torch, float32) on the source checkpoint.

Prompts are `verify.PROMPTS` rendered through the checkpoint's own chat template with thinking on; the longest one
must be longer than every sliding window in the config (checked, so a toy with a large window cannot pass
vacuously). The converted weights are upcast to float32 before running, so the check measures the conversion.
Thresholds (max |delta logit| over every position and the whole vocabulary; top-1 agreement; mean KL):
  f32     1e-3, top-1 on every position (measured on the toys: <= 1e-5)
  bf16    every weight rounded to bf16 once: judged by KL <= 1e-3 and top-1 >= 98 %. Gemma 4 toys are stored in
          bf16 and match exactly; Qwen3.5's 1 + w norm weights round (measured max |delta| 0.013, top-1 99.1-100 %
          on the random toys' near-tied logits)
  q8      KL <= 0.02, top-1 >= 85 %;  q4, mixed_4_6: KL <= 0.1, top-1 >= 40 %;  mixed_3_6: KL <= 0.3, top-1 >= 20 %
          (measured q8 KL <= 2.2e-4, q4 <= 0.034, mixed_3_6 <= 0.15)
Random toy weights are harder to quantize than trained ones and their logits are nearly flat (std ~0.7 over a
~660-token vocabulary), so top-1 is a weak signal for quantized recipes; the limits catch broken packing, layouts or
configs (KL > 1), not small quality differences.
"""

from pathlib import Path

from mlxclin.errors import MlxclinError
from mlxclin.models.verify import PROMPTS, PromptResult, VerifyReport, compare_logits, mlx_logits

FAMILY_THRESHOLDS = {  # recipe -> (max |delta logit| or None, minimum top-1 agreement, maximum mean KL or None)
    "f32": (1e-3, 1.0, None), "bf16": (None, 0.98, 1e-3), "q8": (None, 0.85, 0.02),
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


def transformers_family_reference(src: Path):
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise MlxclinError("--verify for this family needs torch and transformers (pip install torch transformers)")
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    model.eval()

    def run(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].float().numpy()

    return run


def verify_family(src: Path, mlx_path, recipe: str) -> VerifyReport:
    import mlx.core as mx

    from mlxclin.models.convert import cast_floats
    from mlxclin.models.gpt_oss import load

    prompts = family_prompt_ids(src)
    ref = transformers_family_reference(src)
    model, _, _ = load(mlx_path)
    cast_floats(model, mx.float32)
    report = VerifyReport(recipe, "transformers (CPU torch, float32)", *FAMILY_THRESHOLDS[recipe])
    for name, ids in prompts.items():
        diff, agree, kl = compare_logits(ref(ids), mlx_logits(model, ids))
        report.prompts.append(PromptResult(name, len(ids), diff, agree, kl))
    return report
