"""The fine-tuning recipe: the paper's defaults from mlxclin/configs/finetune, CLI overrides, strict validation; and the
`mlxclin eval` call that --eval-after makes."""

import json

import pytest

from mlxclin.errors import MlxclinError
from mlxclin.finetune.config import ATTENTION_KEYS, EXPERT_KEYS, load_config
from mlxclin.finetune.evaluation import eval_spec
from mlxclin.finetune.train import learning_rate_schedule


def test_default_recipe_is_the_papers_with_experts_adapted():
    c = load_config()
    assert (c.rank, c.alpha, c.dropout, c.learning_rate, c.schedule, c.warmup_fraction) == \
        (32, 64.0, 0.05, 1e-4, "cosine", 0.1)
    assert c.batch_size * c.grad_accum == 16 and c.epochs == 3 and c.max_seq_len == 4096 and c.grad_checkpoint
    assert c.scale == 2.0 and set(c.keys) == set(ATTENTION_KEYS) | set(EXPERT_KEYS)


def test_overrides_and_errors(tmp_path):
    c = load_config(None, {"rank": 8, "learning_rate": 2e-4, "keys": "self_attn.q_proj, mlp.experts.up_proj",
                           "grad_checkpoint": False, "dropout": None})
    assert (c.rank, c.learning_rate, c.grad_checkpoint, c.dropout) == (8, 2e-4, False, 0.05)
    assert c.keys == ["self_attn.q_proj", "mlp.experts.up_proj"] and c.lora_parameters()["scale"] == 8.0
    bad = tmp_path / "bad.toml"
    bad.write_text('rank = "32"\n')
    with pytest.raises(MlxclinError, match="rank must be int"):
        load_config(str(bad))
    bad.write_text("ranks = 32\n")
    with pytest.raises(MlxclinError, match="unknown key"):
        load_config(str(bad))
    with pytest.raises(MlxclinError, match="dropout"):
        load_config(None, {"dropout": 1.5})
    with pytest.raises(MlxclinError, match="not found"):
        load_config(str(tmp_path / "missing.toml"))


def test_schedule_warms_up_then_decays_to_zero():
    import mlx.core as mx

    schedule = learning_rate_schedule(load_config(None, {"learning_rate": 1e-3}), total_steps=100)
    lr = [schedule(mx.array(s)).item() for s in (0, 9, 10, 55, 99)]
    assert lr[0] == pytest.approx(1e-4) and lr[1] == pytest.approx(1e-3) and lr[2] == pytest.approx(1e-3)
    assert lr[2] > lr[3] > lr[4] >= 0 and lr[4] < 1e-5
    constant = learning_rate_schedule(load_config(None, {"schedule": "constant", "warmup_fraction": 0.0}), 10)
    assert constant(mx.array(7)).item() == pytest.approx(1e-4)   # an array, as mlx optimizers require


def test_eval_after_asks_with_the_prepared_effort_and_prompt(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "prepare.json").write_text(json.dumps({"effort": "low", "prompt": "/p/prompt.txt"}))
    spec = eval_spec("model", tmp_path / "ad", data, test_data="test.csv", limit=5, runs=2, max_tokens=64)
    assert spec.efforts == ["low"] and spec.prompt_files == ["/p/prompt.txt"]
    assert spec.adapter_path == str(tmp_path / "ad") and spec.task == "eurorad" and spec.backend == "mlx"
    assert (spec.limit, spec.runs, spec.data, spec.max_tokens) == (5, 2, "test.csv", 64)
    with pytest.raises(MlxclinError, match="prepare.json"):
        eval_spec("model", tmp_path / "ad", tmp_path)
