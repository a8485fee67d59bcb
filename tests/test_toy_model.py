"""The toy checkpoint has the real gpt-oss Hugging Face layout, and its tokenizer equals openai-harmony's."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from mlxclin.models.toy import ToyConfig, toy_tensors


def test_layout_matches_released_checkpoints(toy_hf_dir):
    config = json.loads((toy_hf_dir / "config.json").read_text())
    assert config["model_type"] == "gpt_oss"
    assert config["rope_scaling"]["rope_type"] == "yarn" and config["rope_scaling"]["truncate"] is False
    assert config["rope_theta"] == 150000
    assert config["layer_types"] == ["sliding_attention", "full_attention"]
    assert config["quantization_config"]["quant_method"] == "mxfp4"
    index = json.loads((toy_hf_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2 and all((toy_hf_dir / s).exists() for s in shards)
    dtypes = {}
    for shard in shards:
        with safe_open(toy_hf_dir / shard, "np") as f:
            for k in f.keys():
                dtypes[k] = f.get_slice(k).get_dtype()
    assert set(dtypes) == set(index["weight_map"])
    blocks = [k for k in dtypes if k.endswith("_blocks")]
    scales = [k for k in dtypes if k.endswith("_scales")]
    assert len(blocks) == len(scales) == 2 * config["num_hidden_layers"]
    assert all(dtypes[k] == "U8" for k in blocks + scales)
    assert {dtypes[k] for k in dtypes if k not in blocks + scales} == {"BF16"}
    gen = json.loads((toy_hf_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [200002, 199999, 200012]


def test_mxfp4_shapes_follow_hf_convention():
    cfg = ToyConfig()
    t = toy_tensors(cfg)
    gate_up = t["model.layers.0.mlp.experts.gate_up_proj_blocks"]
    # [experts, 2*intermediate (gate/up interleaved), hidden/32 groups, 16 bytes = 32 FP4 codes]
    assert gate_up.shape == (cfg.experts, 2 * cfg.intermediate, cfg.hidden // 32, 16)
    assert t["model.layers.0.mlp.experts.gate_up_proj_scales"].shape == (cfg.experts, 2 * cfg.intermediate,
                                                                         cfg.hidden // 32)
    assert t["model.layers.0.mlp.experts.down_proj_blocks"].shape == (cfg.experts, cfg.hidden,
                                                                      cfg.intermediate // 32, 16)


def test_deterministic_for_a_seed():
    a, b, c = toy_tensors(ToyConfig(seed=3)), toy_tensors(ToyConfig(seed=3)), toy_tensors(ToyConfig(seed=4))
    key = "model.layers.1.mlp.experts.down_proj_blocks"
    assert np.array_equal(a[key], b[key]) and not np.array_equal(a[key], c[key])
    assert np.array_equal(a["lm_head.weight"], b["lm_head.weight"])


def test_tokenizer_ids_equal_openai_harmony(toy_hf_dir):
    from transformers import AutoTokenizer

    from mlxclin.vocab import harmony_encoding

    tok = AutoTokenizer.from_pretrained(toy_hf_dir)
    enc = harmony_encoding()
    assert len(tok) == 201088
    text = ("Clinical History: 46-year-old man – “nail–patella” 12345 naïve café 日本語 emoji 🎉\n\n  tabs\t"
            "<|start|>assistant<|channel|>final<|message|>Osteochondroma<|return|>")
    assert tok.encode(text, add_special_tokens=False) == enc.encode(text, allowed_special="all")
    for token, tid in (("<|startoftext|>", 199998), ("<|return|>", 200002), ("<|start|>", 200006),
                       ("<|end|>", 200007), ("<|call|>", 200012), ("<|reserved_201087|>", 201087)):
        assert tok.convert_tokens_to_ids(token) == tid


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_chat_template_renders_like_openai_harmony(toy_hf_dir, effort):
    from transformers import AutoTokenizer

    from mlxclin.harmony import CONVERSATION_DATE, render_prompt

    tok = AutoTokenizer.from_pretrained(toy_hf_dir)
    messages = [{"role": "system", "content": "Pick one option."}, {"role": "user", "content": "Case A"},
                {"role": "assistant", "content": "Option 1"}, {"role": "user", "content": "Case B"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, reasoning_effort=effort,
                                  current_date=CONVERSATION_DATE, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert list(ids) == render_prompt(messages, effort)
