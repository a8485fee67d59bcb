"""Memory pre-flight: what fine-tuning or evaluating a model will need, compared with what this machine has.

Estimates are built from the model folder alone (config.json and the safetensors headers; no weights are read),
so they run before anything is loaded and a configuration that cannot fit is refused in one line with advice.

Fine-tuning = weights (as stored; dense bf16 experts are upcast to float32 off Metal) + LoRA adapters (float32) +
optimizer state (Adam: 2x adapters) + gradients (the accumulated tree and the current micro-batch: 2x adapters) +
activations (with gradient checkpointing: every layer's input plus one layer's internals and their gradients) +
logits (float32 at the trained positions only, with log-softmax and gradient: 3x).
Evaluation = weights + KV cache (batch x (prompt + max tokens) on full-attention layers; sliding-window layers
keep at most the window) + the transient of one prefill chunk (attention scores, logits of the batch).
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError

GB = 1e9
PREFILL_CHUNK = 2048          # mlx-lm's prefill_step_size: prompts are prefilled this many tokens at a time
ITEM = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "U32": 4, "I32": 4}
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


@dataclass
class ModelShape:
    hidden: int
    layers: int
    experts: int
    experts_per_token: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    sliding_window: Optional[int]
    sliding_layers: int
    weight_bytes: int          # in memory after mlxclin's loader (dense bf16 experts upcast off Metal)
    activation_bytes: int      # bytes per activation element (the dtype of the non-quantized weights)
    full_layers: int = -1      # layers whose KV grows with the context (-1: every non-sliding layer)
    linears: dict = field(default_factory=dict)   # "self_attn.q_proj" -> [(layer, in, out, experts)], from headers
    model_type: str = ""


def _metal() -> bool:
    from mlxclin.device import metal_available

    return metal_available()


def _scan_headers(path: Path, quantization: dict) -> tuple:
    """One pass over the safetensors headers: (bytes in memory after mlxclin's loader, every linear or
    stacked-expert weight of the decoder layers as {module key: [(layer, in, out, experts)]}). Packed quantized
    weights get their input width from their scales."""
    from mlxclin.models.checkpoint import safetensors_header

    total, linears = 0, {}
    for shard in sorted(path.glob("*.safetensors")):
        header = safetensors_header(shard)
        for name, t in header.items():
            size = ITEM.get(t["dtype"], 4) * math.prod(t["shape"])
            scales = header.get(name[:-len("weight")] + "scales") if name.endswith(".weight") else None
            dense_expert = ".experts." in name and name.endswith(".weight") and t["dtype"] in ("BF16", "F16") \
                and scales is None
            total += size * (2 if dense_expert and not _metal() else 1)  # see gpt_oss.make_cpu_runnable
            m = re.search(r"layers\.(\d+)\.(.+)\.weight$", name)
            if not m or len(t["shape"]) not in (2, 3):
                continue
            n_out, n_in = t["shape"][-2:]
            if scales is not None:
                own = quantization.get(name[:-len(".weight")])
                group = (own if isinstance(own, dict) else {}).get("group_size") or quantization.get("group_size", 64)
                n_in = scales["shape"][-1] * group
            experts = t["shape"][0] if len(t["shape"]) == 3 else 1
            linears.setdefault(m.group(2), []).append((int(m.group(1)), n_in, n_out, experts))
    return total, linears


def model_shape(model_path) -> ModelShape:
    """Dimensions and in-memory weight size of an MLX (or HF) model folder, from config.json and headers.
    Qwen3.5 / Gemma 4 keep their text model's settings under text_config; their linear-attention layers hold a
    fixed-size state instead of a KV cache (not counted)."""
    path = Path(model_path)
    try:
        c = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MlxclinError(f"{path}: cannot read config.json for the memory estimate ({e})") from None
    t = c.get("text_config") or c
    weight_bytes, linears = _scan_headers(path, c.get("quantization") or {})
    try:
        types = t.get("layer_types") or []
        experts = t.get("num_local_experts", t.get("num_experts", 0))
        return ModelShape(
            hidden=t["hidden_size"], layers=t["num_hidden_layers"], experts=experts,
            experts_per_token=t.get("num_experts_per_tok", t.get("experts_per_token", 0)),
            intermediate=t["moe_intermediate_size"] if experts and "moe_intermediate_size" in t
            else t["intermediate_size"], heads=t["num_attention_heads"],
            kv_heads=t.get("num_key_value_heads", t["num_attention_heads"]),
            head_dim=t.get("head_dim", t["hidden_size"] // t["num_attention_heads"]), vocab=t["vocab_size"],
            sliding_window=t.get("sliding_window"), sliding_layers=sum(x == "sliding_attention" for x in types),
            full_layers=sum(x == "full_attention" for x in types) if "linear_attention" in types else -1,
            weight_bytes=weight_bytes, linears=linears, model_type=c.get("model_type", ""),
            activation_bytes=DTYPE_BYTES.get(c.get("torch_dtype") or t.get("dtype") or "bfloat16", 2))
    except KeyError as e:
        raise MlxclinError(f"{path}/config.json lacks {e.args[0]!r}, needed for the memory estimate") from None


@dataclass
class MemoryEstimate:
    what: str
    parts: dict = field(default_factory=dict)   # name -> bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def format(self) -> str:
        parts = ", ".join(f"{k} {v / GB:.2f}" for k, v in self.parts.items() if v)
        return f"{self.what}: ~{self.total / GB:.2f} GB ({parts})"


def memory_budget_gb() -> tuple:
    """(GB that MLX may use here, where the number comes from), with doctor's rules: on a Mac the Metal working
    set (raised by `sysctl iogpu.wired_limit_mb`, when set), elsewhere 75 % of RAM."""
    from mlxclin.device import device_info

    info = device_info()
    if info.get("max_recommended_working_set_gb"):
        wired = _wired_limit_gb()
        if wired:
            return wired, "Metal wired limit (iogpu.wired_limit_mb)"
        return info["max_recommended_working_set_gb"], "Metal recommended working set"
    return round(info["memory_gb"] * 0.75, 1), f"75% of {info['memory_gb']} GB RAM"


def _wired_limit_gb() -> Optional[float]:
    from mlxclin.device import _sysctl

    try:
        mb = int(_sysctl("iogpu.wired_limit_mb") or 0)
    except ValueError:
        return None
    return mb / 1000 if mb > 0 else None


# --- fine-tuning --------------------------------------------------------------------------------------------------


def lora_parameters(shape: ModelShape, keys, rank: int, num_layers: int) -> int:
    """Trainable LoRA parameters: rank x (in + out) per adapted linear, per expert for expert projections.
    gpt-oss's keys from its config; other families' from the weights found in the checkpoint's headers."""
    H, D = shape.hidden, shape.head_dim
    dims = {"self_attn.q_proj": (H, shape.heads * D), "self_attn.k_proj": (H, shape.kv_heads * D),
            "self_attn.v_proj": (H, shape.kv_heads * D), "self_attn.o_proj": (shape.heads * D, H),
            "mlp.router": (H, shape.experts), "mlp.experts.gate_proj": (H, shape.intermediate),
            "mlp.experts.up_proj": (H, shape.intermediate), "mlp.experts.down_proj": (shape.intermediate, H)}
    layers = shape.layers if num_layers < 0 else min(num_layers, shape.layers)
    if shape.model_type == "gpt_oss":   # its config says it all, also for an HF folder (MXFP4 *_blocks)
        unknown = [key for key in keys if key not in dims]
        if unknown:
            raise MlxclinError(f"memory estimate: no shape known for LoRA key {unknown[0]!r}")
        return layers * sum(rank * sum(dims[key]) * (shape.experts if ".experts." in key else 1) for key in keys)
    unknown = [key for key in keys if key not in shape.linears]
    if unknown:
        raise MlxclinError(f"memory estimate: no weight found for LoRA key {unknown[0]!r}")
    first = shape.layers - layers     # mlx-lm adapts the last num_layers blocks
    return sum(rank * (n_in + n_out) * experts for key in keys
               for layer, n_in, n_out, experts in shape.linears[key] if layer >= first)


def estimate_finetune_memory(model_path, config, longest_example: int,
                             most_trained: Optional[int] = None) -> MemoryEstimate:
    """Peak memory of `finetune` with TrainConfig `config` when the longest example has this many tokens and
    at most `most_trained` of them are trained (default: all)."""
    s = model_shape(model_path)
    adapters = 4 * lora_parameters(s, config.keys, config.rank, config.num_layers)
    T = config.batch_size * longest_example                        # tokens in one micro-batch
    L, a = longest_example, s.activation_bytes
    k = s.experts_per_token
    per_token_layer = (4 * s.hidden + (2 * s.heads + 2 * s.kv_heads) * s.head_dim
                       + k * (2 * s.hidden + 3 * s.intermediate + 3 * config.rank))
    scores = config.batch_size * s.heads * L * L * 4 * 2           # attention probabilities, float32, + softmax
    one_layer = 2 * (T * per_token_layer * a + scores)             # forward internals and their gradients
    kept = s.layers if config.grad_checkpoint else s.layers * per_token_layer / s.hidden
    activations = int(T * s.hidden * a * kept + one_layer)
    logits = 3 * 4 * config.batch_size * min(most_trained or L, L) * s.vocab
    return MemoryEstimate("fine-tuning estimate", {
        "weights": s.weight_bytes, "adapters": adapters, "optimizer": 2 * adapters,   # Adam/AdamW: m and v
        "gradients": 2 * adapters, "activations": activations, "logits": logits})


def finetune_advice(config) -> str:
    tips = []
    if config.rank > 8:
        tips.append(f"a smaller --rank (now {config.rank})")
    if any(".experts." in k or ".switch_mlp." in k for k in config.keys):
        tips.append("--no-expert-lora (adapters on attention only)")
    tips.append("--num-layers N (adapt only the last N blocks)")
    if config.batch_size > 1:
        tips.append("--batch-size 1 with --grad-accum")
    if not config.grad_checkpoint:
        tips.append("--grad-checkpoint")
    tips.append("a lower --max-seq-len")
    return "try " + ", ".join(tips)


def check_fits(estimate: MemoryEstimate, advice: str, budget_gb: Optional[float] = None) -> str:
    """One line comparing the estimate with the budget; raises MlxclinError (with advice) when it does not fit."""
    source = "given budget"
    if budget_gb is None:
        budget_gb, source = memory_budget_gb()
    line = f"{estimate.format()}; available {budget_gb:.1f} GB ({source})"
    if estimate.total > budget_gb * GB:
        raise MlxclinError(f"{estimate.what} ~{estimate.total / GB:.1f} GB exceeds the {budget_gb:.1f} GB "
                           f"available ({source}); {advice}")
    return line


# --- evaluation ---------------------------------------------------------------------------------------------------


def kv_cache_bytes(s: ModelShape, batch_size: int, context: int) -> int:
    """K and V for every layer; sliding-window layers hold at most the window (mlx-lm's RotatingKVCache)."""
    per_token_layer = 2 * s.kv_heads * s.head_dim * s.activation_bytes
    window = min(context, s.sliding_window or context)
    full_layers = s.full_layers if s.full_layers >= 0 else s.layers - s.sliding_layers
    return batch_size * per_token_layer * (full_layers * context + s.sliding_layers * window)


def estimate_eval_memory(model_path, batch_size: int, max_tokens: int, prompt_tokens: int = 1024) -> MemoryEstimate:
    """Peak memory of generating `batch_size` sequences of prompt_tokens + max_tokens at once."""
    return _eval_estimate(model_shape(model_path), batch_size, max_tokens, prompt_tokens)


def _eval_estimate(s: ModelShape, batch_size: int, max_tokens: int, prompt_tokens: int) -> MemoryEstimate:
    context = prompt_tokens + max_tokens
    chunk = min(prompt_tokens, PREFILL_CHUNK)
    # prefill of one chunk: attention scores (float32) over the context so far, plus hidden states and MoE internals
    prefill = batch_size * chunk * (s.heads * min(context, prompt_tokens) * 4
                                    + (4 * s.hidden + s.experts_per_token * 3 * s.intermediate) * s.activation_bytes)
    logits = batch_size * s.vocab * 4 * 2
    return MemoryEstimate(f"eval estimate (batch {batch_size}, {prompt_tokens}+{max_tokens} tokens)", {
        "weights": s.weight_bytes, "kv_cache": kv_cache_bytes(s, batch_size, context),
        "prefill": int(prefill), "logits": logits})


def pick_batch_size(model_path, max_tokens: int, prompt_tokens: int = 1024, budget_gb: Optional[float] = None,
                    max_batch: int = 64) -> int:
    """The largest batch size <= max_batch whose eval estimate fits the budget (`--batch-size auto`).
    Raises MlxclinError when even batch size 1 does not fit."""
    if budget_gb is None:
        budget_gb, _ = memory_budget_gb()
    shape = model_shape(model_path)
    fits = [b for b in range(1, max_batch + 1)
            if _eval_estimate(shape, b, max_tokens, prompt_tokens).total <= budget_gb * GB]
    if not fits:
        one = _eval_estimate(shape, 1, max_tokens, prompt_tokens)
        raise MlxclinError(f"{one.format()} exceeds the {budget_gb:.1f} GB available even at batch size 1; "
                           f"lower --max-tokens or use a smaller recipe (convert --recipe q4)")
    return fits[-1]
