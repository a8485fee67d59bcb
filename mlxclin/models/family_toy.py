"""Tiny random Qwen3.5 (dense and MoE) and Gemma 4 checkpoints in the released Hugging Face layout.

The layout is what `Qwen/Qwen3.5-9B`, `Qwen/Qwen3.5-35B-A3B` and `google/gemma-4-31B-it` ship, text part only (the
vision/audio towers are skipped by both mlx-lm and transformers' *ForCausalLM, so the toys leave them out):
a multimodal config with a `text_config`, tensors under `model.language_model.`, sharded bf16 safetensors with an
index, generation_config.json, and a small tokenizer carrying the family's real special tokens and chat template.
Family quirks the toys keep because a converter must get them right:
  Qwen3.5: 3 of every 4 layers are Gated DeltaNet linear attention (conv1d stored [C, 1, K]), the rest gated full
           attention with partial RoPE; RMSNorm weights stored zero-centred (the model multiplies by 1 + w);
           MoE experts fused as `experts.gate_up_proj` [E, 2I, H] + `experts.down_proj` [E, H, I], a shared expert.
  Gemma 4: 5 sliding-window layers then 1 global (the 4-layer toy: 3 + 1), global layers with their own head_dim, K = V projection
           (`attention_k_eq_v`) and proportional partial RoPE; tied embeddings; final logit soft-capping.
The tensor names and shapes are taken from mlx-lm's model for the same config and mapped back to the HF names;
tests load the result with transformers and require no missing or unexpected keys.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlxclin.errors import MlxclinError

FAMILIES = ("qwen3_5", "qwen3_5_moe", "gemma4")


@dataclass
class FamilyToyConfig:
    family: str = "qwen3_5"
    layers: int = 4            # Qwen: full attention every 4th layer; Gemma: the last layer is global
    hidden: int = 64
    intermediate: int = 128
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 32
    experts: int = 4
    experts_per_token: int = 2
    sliding_window: int = 16   # Gemma only; short so test prompts exceed it
    shards: int = 2
    seed: int = 0


def _qwen_text_config(cfg: FamilyToyConfig, tok: dict) -> dict:
    moe = cfg.family == "qwen3_5_moe"
    text = {
        "model_type": "qwen3_5_moe_text" if moe else "qwen3_5_text",
        "hidden_size": cfg.hidden, "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads, "head_dim": cfg.head_dim, "hidden_act": "silu",
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 16, "linear_value_head_dim": 16,
        "linear_num_key_heads": 2, "linear_num_value_heads": 4, "full_attention_interval": 4,
        "layer_types": ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(cfg.layers)],
        "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "attention_bias": False, "attn_output_gate": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25,
                            "mrope_section": [2, 1, 1], "mrope_interleaved": True},
        "tie_word_embeddings": False, "vocab_size": tok["vocab_size"], "eos_token_id": tok["eos_token_id"],
        "dtype": "bfloat16",
    }
    if moe:
        text.update(num_experts=cfg.experts, num_experts_per_tok=cfg.experts_per_token, decoder_sparse_step=1,
                    moe_intermediate_size=cfg.intermediate // 2, shared_expert_intermediate_size=cfg.intermediate // 2,
                    norm_topk_prob=True, router_aux_loss_coef=0.001, output_router_logits=False)
    else:
        text["intermediate_size"] = cfg.intermediate
    return text


def _gemma_text_config(cfg: FamilyToyConfig, tok: dict) -> dict:
    layer_types = ["full_attention" if (i + 1) % 6 == 0 or i == cfg.layers - 1 else "sliding_attention"
                   for i in range(cfg.layers)]
    return {
        "model_type": "gemma4_text", "hidden_size": cfg.hidden, "intermediate_size": cfg.intermediate,
        "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads, "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim, "global_head_dim": 2 * cfg.head_dim, "num_global_key_value_heads": 1,
        "attention_k_eq_v": True, "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6,
        "sliding_window": cfg.sliding_window, "layer_types": layer_types, "final_logit_softcapping": 30.0,
        "hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": tok["vocab_size"],
        "num_kv_shared_layers": 0, "use_double_wide_mlp": False, "enable_moe_block": False,
        "max_position_embeddings": 262144, "attention_bias": False, "tie_word_embeddings": True,
        "rope_parameters": {
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0}},
        "vocab_size": tok["vocab_size"], "pad_token_id": tok["pad_token_id"], "eos_token_id": tok["generation_eos"],
        "bos_token_id": tok["bos_token_id"], "dtype": "bfloat16",
    }


def hf_config(cfg: FamilyToyConfig, tok: dict) -> dict:
    if cfg.family == "gemma4":
        return {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4",
                "text_config": _gemma_text_config(cfg, tok), "vocab_size": tok["vocab_size"],  # mlx-lm reads this one
                "tie_word_embeddings": True, "dtype": "bfloat16",
                "transformers_version": "5.5.0", "mlxclin_toy": vars(cfg)}
    arch = "Qwen3_5MoeForConditionalGeneration" if cfg.family == "qwen3_5_moe" else "Qwen3_5ForConditionalGeneration"
    return {"architectures": [arch], "model_type": cfg.family, "text_config": _qwen_text_config(cfg, tok),
            "tie_word_embeddings": False, "dtype": "bfloat16", "transformers_version": "5.2.0",
            "mlxclin_toy": vars(cfg)}


def _hf_name(name: str) -> str:
    if name.startswith("language_model.model."):
        return "model.language_model." + name[len("language_model.model."):]
    return name.removeprefix("language_model.")  # lm_head


def _value(rng, name: str, shape: tuple, family: str) -> np.ndarray:
    """Random values with the statistics each tensor needs to give a well-conditioned toy."""
    normal = lambda std: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    module = name.rsplit(".", 2)[-2]  # "input_layernorm" in "...layers.0.input_layernorm.weight"
    if name.endswith("A_log"):
        return np.log(rng.uniform(1, 16, size=shape)).astype(np.float32)
    if name.endswith("dt_bias"):
        return np.ones(shape, np.float32) + normal(0.1)
    if name.endswith("layer_scalar"):
        return np.ones(shape, np.float32)
    if family == "gemma4" and (name.endswith("q_norm.weight") or name.endswith("k_norm.weight")):
        return 0.3 + normal(0.03)  # Gemma 4 attends with scale 1.0: unit q/k norms would make attention one-hot
    if "norm" in module and len(shape) == 1:
        zero_centred = family != "gemma4" and "linear_attn.norm" not in name  # Qwen3.5 stores w for (1 + w)
        return normal(0.1) if zero_centred else 1.0 + normal(0.1)
    if "embed_tokens" in name:
        return normal(0.1 if family == "gemma4" else 1.0)
    if "q_proj" in name or "k_proj" in name:
        return normal(0.25)
    return normal(0.08)


def toy_tensors(cfg: FamilyToyConfig, config: dict) -> dict:
    """HF name -> float32 numpy array, deterministic in cfg.seed."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    rng = np.random.default_rng(cfg.seed)
    tensors = {}
    for name, param in tree_flatten(model.parameters()):
        shape = tuple(param.shape)
        if name.endswith("conv1d.weight"):  # mlx [C, K, 1] -> HF (torch Conv1d) [C, 1, K]
            tensors[_hf_name(name)] = _value(rng, name, (shape[0], 1, shape[1]), cfg.family)
        elif ".switch_mlp." in name or ".switch_glu." in name:
            continue  # written fused below
        else:
            tensors[_hf_name(name)] = _value(rng, name, shape, cfg.family)
    for layer in range(cfg.layers):
        if cfg.family == "qwen3_5_moe":
            experts = model.layers[layer].mlp.switch_mlp
            e, i, h = experts.gate_proj.weight.shape
            prefix = f"model.language_model.layers.{layer}.mlp.experts."
            tensors[prefix + "gate_up_proj"] = (rng.standard_normal((e, 2 * i, h)) * 0.08).astype(np.float32)
            tensors[prefix + "down_proj"] = (rng.standard_normal((e, h, i)) * 0.08).astype(np.float32)
    return tensors


def write_family_toy(out_dir, cfg: FamilyToyConfig) -> Path:
    import mlx.core as mx

    from mlxclin.models.family_tokenizer import write_gemma_tokenizer, write_qwen_tokenizer

    if cfg.family not in FAMILIES:
        raise MlxclinError(f"unknown toy family {cfg.family!r}; choose one of {', '.join(FAMILIES)}")
    if cfg.family.startswith("qwen") and cfg.layers % 4:
        raise MlxclinError("--layers must be a multiple of 4 for Qwen3.5 (every 4th layer is full attention)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = (write_gemma_tokenizer if cfg.family == "gemma4" else write_qwen_tokenizer)(out)
    config = hf_config(cfg, tok)
    tensors = toy_tensors(cfg, config)
    names = list(tensors)
    chunks = [list(c) for c in np.array_split(np.array(names, dtype=object), max(1, min(cfg.shards, len(names))))]
    weight_map, total = {}, 0
    for n, chunk in enumerate(chunks, start=1):
        fname = f"model-{n:05d}-of-{len(chunks):05d}.safetensors"
        arrays = {k: mx.array(tensors[k]).astype(mx.bfloat16) for k in chunk}
        total += sum(a.nbytes for a in arrays.values())
        weight_map.update(dict.fromkeys(chunk, fname))
        mx.save_safetensors(str(out / fname), arrays, metadata={"format": "pt"})
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    generation = {"eos_token_id": tok["generation_eos"], "pad_token_id": tok["pad_token_id"], "do_sample": True}
    generation.update(FAMILY_SAMPLING[cfg.family])
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return out


# generation_config.json sampling of the released checkpoints (the model cards' recommendations)
FAMILY_SAMPLING = {"qwen3_5": {"temperature": 1.0, "top_p": 0.95, "top_k": 20},
                   "qwen3_5_moe": {"temperature": 1.0, "top_p": 0.95, "top_k": 20},
                   "gemma4": {"temperature": 1.0, "top_p": 0.95, "top_k": 64}}
