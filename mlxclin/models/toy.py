"""A randomly initialised gpt-oss checkpoint in the exact layout of `openai/gpt-oss-20b` on the Hub.

Everything a real download exercises is here: config.json with YaRN `truncate: false` and alternating
sliding/full layers, an MXFP4 `quantization_config`, safetensors split into shards with an index, MoE experts
packed as MXFP4 `*_blocks` (uint8, two E2M1 codes per byte, low nibble first) and `*_scales` (uint8 E8M0 exponents
biased by 127), fused gate_up rows interleaved (even rows gate, odd rows up), bf16 for everything else, and the
real o200k_harmony tokenizer. The packing is written with numpy alone so that MLX's own unpacking is tested by it.

Two sizes: the tiny default (hidden 64, everything made in memory at once), and the presets `gpt-oss-20b` /
`gpt-oss-120b`, which have the released per-layer dimensions, config and shard names (`model-00000-of-00002...`) and
are generated tensor by tensor in row chunks (bounded memory), so real-width paths run anywhere with few layers.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mlxclin.models.tokenizer import VOCAB_SIZE, write_tokenizer


@dataclass
class ToyConfig:
    layers: int = 2
    experts: int = 4
    experts_per_token: int = 2
    hidden: int = 64
    intermediate: int = 64
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 64           # as in gpt-oss-20b: 32 rotary frequencies, so the YaRN fix is tested at full size
    sliding_window: int = 32     # short, so test prompts can exceed it
    shards: int = 2
    seed: int = 0
    init_std: float = 0.02
    attn_std: float = 0.25       # sharp attention, so positional (RoPE) differences show up in the logits
    preset: str = ""             # "" for the tiny toy; else a key of PRESETS (chunked generation)


# Released per-layer dimensions and shard counts (openai/gpt-oss-20b and -120b on the Hub, transformers configs).
PRESETS = {
    "gpt-oss-20b": dict(layers=24, experts=32, experts_per_token=4, hidden=2880, intermediate=2880, heads=64,
                        kv_heads=8, head_dim=64, sliding_window=128, shards=3),
    "gpt-oss-120b": dict(layers=36, experts=128, experts_per_token=4, hidden=2880, intermediate=2880, heads=64,
                         kv_heads=8, head_dim=64, sliding_window=128, shards=15),
}


def preset_config(name: str, layers=None, seed: int = 0) -> ToyConfig:
    """The preset's real dimensions, optionally with fewer layers (the shard count stays the released one)."""
    values = dict(PRESETS[name], seed=seed, preset=name)
    if layers:
        values["layers"] = layers
    return ToyConfig(**values)


def hf_config(cfg: ToyConfig) -> dict:
    """config.json in the form the released checkpoints use (transformers 4.55 keys)."""
    return {
        "architectures": ["GptOssForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "eos_token_id": 200002,
        "experts_per_token": cfg.experts_per_token,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "hidden_size": cfg.hidden,
        "initial_context_length": 4096,
        "initializer_range": cfg.init_std,
        "intermediate_size": cfg.intermediate,
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(cfg.layers)],
        "max_position_embeddings": 131072,
        "model_type": "gpt_oss",
        "num_attention_heads": cfg.heads,
        "num_experts_per_tok": cfg.experts_per_token,
        "num_hidden_layers": cfg.layers,
        "num_key_value_heads": cfg.kv_heads,
        "num_local_experts": cfg.experts,
        "output_router_logits": False,
        "pad_token_id": 199999,
        "quantization_config": {
            "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                       "model.embed_tokens", "lm_head"],
            "quant_method": "mxfp4",
        },
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                         "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": False},
        "rope_theta": 150000,
        "router_aux_loss_coef": 0.9,
        "sliding_window": cfg.sliding_window,
        "swiglu_limit": 7.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.55.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB_SIZE,
        "mlxclin_toy": asdict(cfg),
    }


GENERATION_CONFIG = {"bos_token_id": 199998, "do_sample": True, "eos_token_id": [200002, 199999, 200012],
                     "pad_token_id": 199999, "transformers_version": "4.55.0.dev0"}


def _mxfp4(rng, rows: int, cols: int, experts: int, exponent: int):
    """Random MXFP4 tensors shaped like the checkpoint: blocks [E, rows, cols/32, 16], scales [E, rows, cols/32]."""
    groups = cols // 32
    blocks = rng.integers(0, 256, size=(experts, rows, groups, 16), dtype=np.uint8)
    # E8M0 exponents around 2^exponent (bias 127), varied per group so scales matter
    scales = (127 + exponent + rng.integers(-1, 2, size=(experts, rows, groups))).astype(np.uint8)
    return blocks, scales


def toy_tensors(cfg: ToyConfig) -> dict:
    """name -> numpy array (float32 for tensors stored as bf16, uint8 for MXFP4). Deterministic in cfg.seed."""
    if cfg.hidden % 32 or cfg.intermediate % 32:
        raise ValueError("hidden and intermediate sizes must be multiples of 32 (MXFP4 block size)")
    rng = np.random.default_rng(cfg.seed)
    normal = lambda *shape, std=cfg.init_std: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    H, I, E, D = cfg.hidden, cfg.intermediate, cfg.experts, cfg.head_dim
    t = {"model.embed_tokens.weight": normal(VOCAB_SIZE, H, std=1.0)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = 1.0 + normal(H, std=0.1)
        t[p + "post_attention_layernorm.weight"] = 1.0 + normal(H, std=0.1)
        for name, out in (("q", cfg.heads * D), ("k", cfg.kv_heads * D), ("v", cfg.kv_heads * D)):
            std = cfg.attn_std if name in "qk" else cfg.init_std * 4
            t[p + f"self_attn.{name}_proj.weight"] = normal(out, H, std=std)
            t[p + f"self_attn.{name}_proj.bias"] = normal(out)
        t[p + "self_attn.o_proj.weight"] = normal(H, cfg.heads * D, std=cfg.init_std * 4)
        t[p + "self_attn.o_proj.bias"] = normal(H)
        t[p + "self_attn.sinks"] = normal(cfg.heads, std=1.0)
        t[p + "mlp.router.weight"] = normal(E, H, std=0.5)
        t[p + "mlp.router.bias"] = normal(E)
        blocks, scales = _mxfp4(rng, 2 * I, H, E, exponent=-6)  # rows 2j = gate_j, 2j+1 = up_j
        t[p + "mlp.experts.gate_up_proj_blocks"], t[p + "mlp.experts.gate_up_proj_scales"] = blocks, scales
        t[p + "mlp.experts.gate_up_proj_bias"] = normal(E, 2 * I)
        blocks, scales = _mxfp4(rng, H, I, E, exponent=-6)
        t[p + "mlp.experts.down_proj_blocks"], t[p + "mlp.experts.down_proj_scales"] = blocks, scales
        t[p + "mlp.experts.down_proj_bias"] = normal(E, H)
    t["model.norm.weight"] = 1.0 + normal(H, std=0.1)
    t["lm_head.weight"] = normal(VOCAB_SIZE, H, std=0.5)
    return t


def tensor_specs(cfg: ToyConfig) -> list:
    """(name, safetensors dtype, shape, how to draw it) in checkpoint order; the draw is ("normal", std, mean),
    ("blocks",) or ("scales", exponent). Fan-in stds shrink with sqrt(64 / hidden) so real widths stay in range."""
    H, I, E, D = cfg.hidden, cfg.intermediate, cfg.experts, cfg.head_dim
    fan = math.sqrt(64 / H)
    exponent = -6 + round(math.log2(fan))
    specs = [("model.embed_tokens.weight", "BF16", (VOCAB_SIZE, H), ("normal", 1.0, 0.0))]
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        specs += [(p + "input_layernorm.weight", "BF16", (H,), ("normal", 0.1, 1.0)),
                  (p + "post_attention_layernorm.weight", "BF16", (H,), ("normal", 0.1, 1.0))]
        for name, out in (("q", cfg.heads * D), ("k", cfg.kv_heads * D), ("v", cfg.kv_heads * D)):
            std = cfg.attn_std if name in "qk" else cfg.init_std * 4
            specs += [(p + f"self_attn.{name}_proj.weight", "BF16", (out, H), ("normal", std * fan, 0.0)),
                      (p + f"self_attn.{name}_proj.bias", "BF16", (out,), ("normal", cfg.init_std, 0.0))]
        specs += [(p + "self_attn.o_proj.weight", "BF16", (H, cfg.heads * D), ("normal", cfg.init_std * 4 * fan, 0.0)),
                  (p + "self_attn.o_proj.bias", "BF16", (H,), ("normal", cfg.init_std, 0.0)),
                  (p + "self_attn.sinks", "BF16", (cfg.heads,), ("normal", 1.0, 0.0)),
                  (p + "mlp.router.weight", "BF16", (E, H), ("normal", 0.5 * fan, 0.0)),
                  (p + "mlp.router.bias", "BF16", (E,), ("normal", cfg.init_std, 0.0))]
        for proj, rows, cols in (("gate_up_proj", 2 * I, H), ("down_proj", H, I)):
            specs += [(p + f"mlp.experts.{proj}_blocks", "U8", (E, rows, cols // 32, 16), ("blocks",)),
                      (p + f"mlp.experts.{proj}_scales", "U8", (E, rows, cols // 32), ("scales", exponent)),
                      (p + f"mlp.experts.{proj}_bias", "BF16", (E, rows), ("normal", cfg.init_std, 0.0))]
    specs += [("model.norm.weight", "BF16", (H,), ("normal", 0.1, 1.0)),
              ("lm_head.weight", "BF16", (VOCAB_SIZE, H), ("normal", 0.5 * fan, 0.0))]
    return specs


def _drawn_chunks(cfg: ToyConfig, index: int, shape: tuple, draw: tuple):
    """(start row, numpy rows) of one tensor, from its own seeded stream, about 64 MB at a time."""
    from mlxclin.models.safetensors_stream import row_chunks

    rng = np.random.default_rng([cfg.seed, index])
    rest = shape[1:]
    for start, stop in row_chunks(shape[0], 4 * math.prod(rest)):
        size = (stop - start, *rest)
        if draw[0] == "normal":
            yield start, rng.standard_normal(size, dtype=np.float32) * np.float32(draw[1]) + np.float32(draw[2])
        elif draw[0] == "blocks":
            yield start, rng.integers(0, 256, size=size, dtype=np.uint8)
        else:  # E8M0 exponents around 2^exponent (bias 127), varied per group so scales matter
            yield start, (127 + draw[1] + rng.integers(-1, 2, size=size)).astype(np.uint8)


def _tensor_chunks(cfg: ToyConfig, specs: list):
    """name -> callable yielding (start row, numpy rows): the tiny toy from toy_tensors (one stream, in memory),
    presets drawn chunk by chunk."""
    if not cfg.preset:
        tensors = toy_tensors(cfg)
        return {name: (lambda a=tensors[name]: iter([(0, a)])) for name, *_ in specs}
    return {name: (lambda i=i, shape=shape, draw=draw: _drawn_chunks(cfg, i, shape, draw))
            for i, (name, _, shape, draw) in enumerate(specs)}


def release_shard_name(number: int, count: int) -> str:
    """The released checkpoints number shards from zero: model-00000-of-00002 ... model-00002-of-00002."""
    return f"model-{number:05d}-of-{count - 1:05d}.safetensors"


def write_toy_checkpoint(out_dir, cfg: ToyConfig = ToyConfig(), progress: bool = False) -> Path:
    """Write the checkpoint into out_dir (created), one tensor chunk at a time; returns the folder."""
    import mlx.core as mx
    from tqdm import tqdm

    from mlxclin.models.safetensors_stream import SafetensorsWriter, contiguous_shards, tensor_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = tensor_specs(cfg)
    sizes = [tensor_bytes(dtype, shape) for _, dtype, shape, _ in specs]
    shard_of = contiguous_shards(sizes, max(2, min(cfg.shards, len(specs))))
    count = max(shard_of) + 1
    chunks = _tensor_chunks(cfg, specs)
    weight_map = {}
    bar = tqdm(total=sum(sizes), unit="B", unit_scale=True, desc="writing toy checkpoint", disable=not progress)
    for shard in range(count):
        members = [spec for spec, s in zip(specs, shard_of) if s == shard]
        fname = release_shard_name(shard, count)
        with SafetensorsWriter(out / fname, [(n, d, sh) for n, d, sh, _ in members], {"format": "pt"}) as w:
            for name, dtype, _, _ in members:
                for start, rows in chunks[name]():
                    w.write(name, rows if dtype == "U8" else mx.array(rows).astype(mx.bfloat16), start)
                    bar.update(rows.size * (1 if dtype == "U8" else 2))
                weight_map[name] = fname
    bar.close()
    index = {"metadata": {"total_size": sum(sizes)}, "weight_map": dict(sorted(weight_map.items()))}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    (out / "config.json").write_text(json.dumps(hf_config(cfg), indent=2))
    (out / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))
    write_tokenizer(out)
    return out
