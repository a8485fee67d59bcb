"""`convert --verify`: the converted model's logits against an independent reference.

Reference: transformers' gpt-oss decoder layers on CPU torch in float32 (MXFP4 unpacked by transformers' own
code), built one layer at a time from the source checkpoint next to the converted model's same layer, so memory
holds about a layer or two in float32 plus the head (verify_layers); without torch, the source loaded by MLX and
dequantized to float32 (same arithmetic family, so weaker; whole model, not bounded).
For each fixed prompt we report max |delta logit| over every position and the whole vocabulary, top-1 agreement
and the mean KL(reference || converted). Prompts include one longer than the sliding window and long enough that
the YaRN low-frequency components rotate visibly, which is where an uncorrected mlx-lm gpt-oss diverges.

The converted model is run with its stored weights upcast to float32 (exact), so the check measures the conversion
(packing, layouts, RoPE, config) rather than bf16 arithmetic noise, which on an MoE model flips router choices and
near-tied top-1 tokens. Thresholds (max |delta logit|; toy-checkpoint logits span roughly +-15):
  f32, bf16, mxfp4: 2e-3 (same weights, float32 both sides: summation order only); top-1 must agree everywhere;
  mxfp4-q8, q8, q4: affine rounding moves every logit and flips router choices, so these are judged by the mean
  KL divergence (<= 0.05 for 8-bit, <= 2.0 for 4-bit) and top-1 agreement (>= 85 % / 20 %). The toy's random
  MXFP4 codes are uniform over the E2M1 grid (heavier-tailed than trained weights), so q4 looks worse on it than
  it does on real models.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from mlxclin.errors import MlxclinError

THRESHOLDS = {  # recipe -> (max |delta logit| or None, minimum top-1 agreement, maximum mean KL or None)
    "f32": (2e-3, 1.0, None), "mxfp4": (2e-3, 1.0, None), "bf16": (2e-3, 1.0, None),
    "mxfp4-q8": (None, 0.85, 0.05), "q8": (None, 0.85, 0.05), "q4": (None, 0.2, 2.0),
}

# Clinical-style text long enough to pass the toy's 32-token window and real gpt-oss's 128-token window.
_LONG = ("Clinical History: A 46-year-old man with a history of HIV and hepatitis C coinfection underwent CT to "
         "assess liver lesions detected by ultrasound, later identified as haemangiomas. Hypoplastic fingernails "
         "were noted on examination. Imaging Findings: bilateral osseous processes project from the posterior "
         "iliac bones. Knee radiographs show bilateral patellar hypoplasia with luxation, and elbow radiographs "
         "show radial head hypoplasia with radio-humeral dislocation and abnormal radial curvature. ")
PROMPTS = {
    "short": [{"role": "user", "content": "Name one cause of acute chest pain."}],
    "case": [{"role": "system", "content": "Select the single most likely diagnosis from the list."},
             {"role": "user", "content": _LONG + "\nCandidates:\nNail-patella syndrome\nOsteochondroma"}],
    "long": [{"role": "user", "content": _LONG * 3}],
}


@dataclass
class PromptResult:
    name: str
    tokens: int
    max_abs_diff: float
    top1_agreement: float
    mean_kl: float


@dataclass
class VerifyReport:
    recipe: str
    reference: str
    max_abs_threshold: Optional[float]
    top1_threshold: float
    kl_threshold: Optional[float]
    layerwise: bool = False
    coverage: str = ""
    prompts: list = field(default_factory=list)

    def failures(self) -> list:
        out = []
        for p in self.prompts:
            if self.max_abs_threshold is not None and p.max_abs_diff > self.max_abs_threshold:
                out.append(f"{p.name}: max |dlogit| {p.max_abs_diff:.4g} > {self.max_abs_threshold}")
            if p.top1_agreement < self.top1_threshold:
                out.append(f"{p.name}: top-1 {p.top1_agreement:.3f} < {self.top1_threshold}")
            if self.kl_threshold is not None and p.mean_kl > self.kl_threshold:
                out.append(f"{p.name}: KL {p.mean_kl:.4g} > {self.kl_threshold}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()

    def raise_if_failed(self):
        if not self.passed:
            raise MlxclinError(f"verification failed for recipe {self.recipe}: " + "; ".join(self.failures()))


def prompt_token_ids() -> dict:
    """Harmony-rendered prompts (the exact token ids gpt-oss sees in evaluation)."""
    from mlxclin.harmony import render_prompt

    return {name: render_prompt(msgs, effort="medium") for name, msgs in PROMPTS.items()}


def compare_logits(ref: np.ndarray, test: np.ndarray) -> tuple:
    """(max |delta|, top-1 agreement, mean KL(ref || test)) for [positions, vocab] float32 logits."""
    from scipy.special import log_softmax

    diff = float(np.abs(ref - test).max())
    top1 = float((ref.argmax(-1) == test.argmax(-1)).mean())
    lp, lq = log_softmax(ref, -1), log_softmax(test, -1)  # float32: KL resolves down to ~1e-7, enough here
    kl = float(np.maximum((np.exp(lp) * (lp - lq)).sum(-1), 0).mean())
    return diff, top1, kl


def mlx_logits(model, ids: list) -> np.ndarray:
    import mlx.core as mx

    out = model(mx.array(ids)[None])[0].astype(mx.float32)
    mx.eval(out)
    return np.array(out)


def mlx_reference(src: Path):
    """Fallback reference: the source through MLX (with the YaRN fix), dequantized to float32."""
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model

    from mlxclin.models.convert import cast_floats
    from mlxclin.models.gpt_oss import load

    model, _, _ = load(src)
    model = dequantize_model(model)
    cast_floats(model, mx.float32)
    return lambda ids: mlx_logits(model, ids)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def verify_conversion(hf_path, mlx_path, recipe: str, reference: str = "auto", fix_rope: bool = True,
                      progress: bool = False) -> VerifyReport:
    """Run PROMPTS through the converted model and the reference. fix_rope=False shows what plain mlx-lm gives.

    With torch: layer by layer against transformers' decoder layers (bounded memory, see verify_layers).
    Without: the whole source model through MLX, dequantized to float32 (needs the model twice in float32)."""
    import mlx.core as mx
    from mlx_lm.utils import load_model

    from mlxclin.models import gpt_oss
    from mlxclin.models.checkpoint import read_config, resolve_source
    from mlxclin.models.convert import cast_floats

    src = resolve_source(str(hf_path))
    layers = read_config(src).get("num_hidden_layers")
    use_torch = reference in ("auto", "transformers") and _torch_available()
    if reference == "transformers" and not use_torch:
        raise MlxclinError("reference 'transformers' needs torch and transformers (pip install torch transformers)")
    prompts = prompt_token_ids()
    if use_torch:
        from mlxclin.models.verify_layers import layerwise_logits

        pairs = layerwise_logits(src, mlx_path, prompts, fix_rope=fix_rope, progress=progress)
        report = VerifyReport(recipe, "transformers (CPU torch, float32)", *THRESHOLDS[recipe], layerwise=True,
                              coverage=f"all {layers} layers one at a time, embedding, final norm and head")
    else:
        ref = mlx_reference(src)
        if fix_rope:
            model, _, _ = gpt_oss.load(mlx_path)
        else:
            model, _ = load_model(Path(mlx_path), get_model_classes=gpt_oss.model_classes)
        cast_floats(model, mx.float32)
        pairs = {name: (ref(ids), mlx_logits(model, ids)) for name, ids in prompts.items()}
        report = VerifyReport(recipe, "mlx (source dequantized to float32)", *THRESHOLDS[recipe], layerwise=False,
                              coverage=f"all {layers} layers, whole model in float32 twice (no torch)")
    for name, ids in prompts.items():
        diff, agree, kl = compare_logits(*pairs[name])
        report.prompts.append(PromptResult(name, len(ids), diff, agree, kl))
    return report


def print_report(report: VerifyReport) -> None:
    import click

    limits = [f"top-1 >= {report.top1_threshold:.0%}"]
    if report.max_abs_threshold is not None:
        limits.insert(0, f"max |dlogit| <= {report.max_abs_threshold}")
    if report.kl_threshold is not None:
        limits.append(f"KL <= {report.kl_threshold}")
    click.echo(f"verify [{report.recipe}] against {report.reference}: limits {', '.join(limits)}")
    click.echo(f"  covered: {report.coverage}")
    for p in report.prompts:
        click.echo(f"  {p.name:<6} {p.tokens:>5} tokens  max |dlogit| {p.max_abs_diff:9.3g}  "
                   f"top-1 {p.top1_agreement:6.1%}  KL {p.mean_kl:9.3g}")
    click.echo("  PASS" if report.passed else "  FAIL")
