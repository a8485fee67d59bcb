"""Layer-by-layer `--verify` in bounded memory: transformers' own gpt-oss decoder layers, built and loaded one at a
time in float32, against the converted MLX model's layers, one at a time, also in float32.

Both sides run the same prompts freely (each on its own hidden states, exactly as a full forward pass would),
but only one decoder layer per side exists at any moment; the reference's embedding rows are gathered for the
prompt tokens only, and the float32 heads are built last. Peak memory is about one layer in float32 per side plus
the head, instead of two whole float32 models (~170 GB for gpt-oss-20b, ~940 GB for 120b).
"""

import gc
import json
from pathlib import Path

import numpy as np


class SourceTensors:
    """Tensors of a Hugging Face checkpoint folder read one at a time (torch, through safetensors)."""

    def __init__(self, src: Path):
        index = src / "model.safetensors.index.json"
        if index.exists():
            self.files = {k: src / v for k, v in json.loads(index.read_text())["weight_map"].items()}
        else:
            from safetensors import safe_open

            self.files = {}
            for shard in sorted(src.glob("model*.safetensors")):
                with safe_open(shard, "pt") as f:
                    self.files.update({k: shard for k in f.keys()})

    def get(self, name: str):
        from safetensors import safe_open

        with safe_open(self.files[name], "pt") as f:
            return f.get_tensor(name)

    def rows(self, name: str, ids):
        import torch

        full = self.get(name)
        out = full[torch.tensor(ids)].float()
        del full
        return out

    def __contains__(self, name: str) -> bool:
        return name in self.files


def _expert_weight(tensors: SourceTensors, prefix: str, rows: int, cols: int):
    """[E, cols, rows] float32 as transformers' GptOssExperts stores it (input-major), from MXFP4 or dense."""
    import torch
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    if prefix in tensors:  # a dense (dequantized) checkpoint already has the transformers layout
        return tensors.get(prefix).float()
    w = convert_moe_packed_tensors(tensors.get(prefix + "_blocks"), tensors.get(prefix + "_scales"),
                                   dtype=torch.float32)
    return w if tuple(w.shape[-2:]) == (cols, rows) else w.transpose(-1, -2).contiguous()


def reference_layer(tensors: SourceTensors, config, i: int):
    """transformers' GptOssDecoderLayer i in float32 with the checkpoint's weights (experts dequantized)."""
    import torch
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssDecoderLayer

    with torch.device("meta"):
        layer = GptOssDecoderLayer(config, i)
    p = f"model.layers.{i}."
    state = {}
    for name, _ in layer.named_parameters():
        key = p + name
        if name == "mlp.experts.gate_up_proj":
            state[name] = _expert_weight(tensors, key, 2 * config.intermediate_size, config.hidden_size)
        elif name == "mlp.experts.down_proj":
            state[name] = _expert_weight(tensors, key, config.hidden_size, config.intermediate_size)
        else:
            state[name] = tensors.get(key).float()
    layer.load_state_dict(state, assign=True, strict=True)
    return layer.eval()


def _reference_masks(config, hidden, ids_len: int) -> dict:
    import torch
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    kwargs = {"config": config, "inputs_embeds": hidden, "attention_mask": None, "cache": None,
              "position_ids": torch.arange(ids_len)[None]}
    return {"full_attention": create_causal_mask(**kwargs),
            "sliding_attention": create_sliding_window_causal_mask(**kwargs)}


def _mlx_mask(inner, x, layer_type: str):
    from mlx_lm.models.base import create_attention_mask

    window = inner.window_size if layer_type == "sliding_attention" else None
    return create_attention_mask(x, None, window_size=window)


def layerwise_logits(src: Path, mlx_path, prompts: dict, fix_rope: bool = True, progress: bool = True) -> dict:
    """{prompt name: (reference logits, converted logits)} as float32 numpy, computed layer by layer."""
    import mlx.core as mx
    import torch
    from mlx_lm.utils import load_model
    from tqdm import tqdm
    from transformers import AutoConfig
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssRotaryEmbedding

    from mlxclin.models import gpt_oss
    from mlxclin.models.convert import cast_floats

    config = AutoConfig.from_pretrained(src)
    config._attn_implementation = "eager"
    config._experts_implementation = "eager"
    tensors = SourceTensors(src)
    if fix_rope:
        model, _, _ = gpt_oss.load(mlx_path, lazy=True)
    else:
        model, _ = load_model(Path(mlx_path), lazy=True, get_model_classes=gpt_oss.model_classes)
    inner = model.model
    cast_floats(inner.embed_tokens, mx.float32)
    rotary = GptOssRotaryEmbedding(config)
    ref, ours, masks, rope = {}, {}, {}, {}
    with torch.no_grad():
        for name, ids in prompts.items():
            ref[name] = tensors.rows("model.embed_tokens.weight", ids)[None]
            masks[name] = _reference_masks(config, ref[name], len(ids))
            rope[name] = rotary(ref[name], torch.arange(len(ids))[None])
            ours[name] = inner.embed_tokens(mx.array(ids)[None])
            mx.eval(ours[name])
        inner.embed_tokens = None
        bar = tqdm(range(config.num_hidden_layers), desc="verify layers", unit="layer", disable=not progress)
        for i in bar:
            layer_type = config.layer_types[i]
            theirs = reference_layer(tensors, config, i)
            mine, inner.layers[i] = inner.layers[i], None   # the model keeps no reference to a finished layer
            cast_floats(mine, mx.float32)
            for name in prompts:
                ref[name] = theirs(ref[name], attention_mask=masks[name][layer_type], position_embeddings=rope[name],
                                   position_ids=torch.arange(ref[name].shape[1])[None])
                ours[name] = mine(ours[name], _mlx_mask(inner, ours[name], layer_type), None)
                mx.eval(ours[name])
            del theirs, mine
            gc.collect()
            mx.clear_cache()
        return _heads(tensors, model, inner, ref, ours)


def _heads(tensors, model, inner, ref, ours) -> dict:
    import mlx.core as mx
    import torch

    from mlxclin.models.convert import cast_floats

    cast_floats(inner.norm, mx.float32)
    eps = inner.norm.eps
    norm_w = tensors.get("model.norm.weight").float()
    head_w = tensors.get("lm_head.weight").float()
    head = model.lm_head if hasattr(model, "lm_head") else None
    if head is not None:
        cast_floats(head, mx.float32)
    out = {}
    for name in ref:
        h = ref[name].float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * norm_w
        theirs = (h @ head_w.T)[0].numpy()
        x = inner.norm(ours[name])
        mine = (head(x) if head is not None else inner.embed_tokens.as_linear(x))[0].astype(mx.float32)
        mx.eval(mine)
        out[name] = (theirs, np.array(mine))
    return out
