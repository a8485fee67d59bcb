"""Fine-tuning the qwen3_5_moe toy: expert + attention LoRA, plain mlx-lm adapter loading, learning check."""

import json

import pytest

from test_finetune_learning import accuracy, synthetic_cases


@pytest.fixture(scope="module")
def qwen_moe_f32(family_toy, tmp_path_factory):
    """The qwen3_5_moe toy converted to float32 (dense MoE experts only run in float32 on a CPU)."""
    from mlxclin.models.family_convert import convert_family

    return convert_family(family_toy("qwen3_5_moe"), tmp_path_factory.mktemp("qmoe") / "f32", "f32").path


@pytest.mark.parametrize("family", ["qwen3_5", "qwen3_5_moe", "gemma4"])
def test_training_loss_uses_the_models_own_output_head(family, family_toy):
    """The loss computes logits from hidden states itself; it must use the untied Qwen3.5 head and Gemma 4's
    soft-capping exactly as the model's forward does (a tied-embedding fallback trains the wrong head)."""
    import mlx.core as mx

    from mlxclin.finetune.train import lm_head
    from mlxclin.models.gpt_oss import load

    model, _, _ = load(family_toy(family))
    ids = mx.array([[5, 6, 7, 8, 9, 10]])
    hidden = model.language_model.model(ids)
    assert mx.abs(lm_head(model)(hidden) - model(ids)).max().item() == 0.0


def test_lora_estimate_counts_qwen_attention_from_the_weights(family_toy):
    """Qwen3.5's q_proj carries an output gate (2 x heads x head_dim) and only every 4th layer has self-attention:
    a gpt-oss-style count from config.json would get both wrong."""
    from mlxclin.memory import lora_parameters, model_shape

    shape = model_shape(family_toy("qwen3_5"))
    assert shape.linears["self_attn.q_proj"] == [(3, 64, 2 * 4 * 32, 1)]
    assert lora_parameters(shape, ["self_attn.q_proj"], 8, -1) == 8 * (64 + 256)
    assert lora_parameters(shape, ["linear_attn.out_proj"], 8, 1) == 0     # the last block is full attention


def test_prepare_renders_think_targets(run_mlxclin, qwen_moe_f32, finetune_jsonl, short_prompt_file, tmp_path):
    from mlx_lm.utils import load_tokenizer

    result = run_mlxclin("finetune", "prepare", "--data", finetune_jsonl, "--model", qwen_moe_f32, "--out",
                         tmp_path / "d", "--effort", "high", "--prompt-file", short_prompt_file, "--skip-leakage")
    assert result.exit_code == 0, result.stderr
    example = json.loads((tmp_path / "d" / "train.jsonl").read_text().splitlines()[0])
    tok = load_tokenizer(qwen_moe_f32)
    prompt = tok.decode([i for i, m in zip(example["ids"], example["mask"]) if not m])
    target = tok.decode([i for i, m in zip(example["ids"], example["mask"]) if m])
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert target == f"\n</think>\n\n{example['gold']}<|im_end|>"


@pytest.mark.slow
def test_qwen_moe_finetuning_learns_with_expert_and_attention_lora(run_mlxclin, qwen_moe_f32, tmp_path):
    from mlx_lm import load as mlx_lm_load

    train = synthetic_cases(tmp_path / "train.csv", 96, seed=1)
    test = synthetic_cases(tmp_path / "test.csv", 24, seed=2)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("### user\nOptions:\n{options}\nCase: {case}\n")
    evaluate = ["eval", "--task", "eurorad", "--backend", "mlx", "--model", qwen_moe_f32, "--data", test,
                "--prompt-file", prompt, "--effort", "low", "--runs", 1, "--temperature", 0, "--max-tokens", 12,
                "--quiet"]
    before = run_mlxclin(*evaluate, "--out", tmp_path / "before")
    assert before.exit_code == 0, before.stderr
    assert accuracy(tmp_path / "before") <= 50.0

    prepared = run_mlxclin("finetune", "prepare", "--data", train, "--model", qwen_moe_f32, "--out", tmp_path / "data",
                           "--effort", "low", "--prompt-file", prompt, "--valid-fraction", 0.1, "--skip-leakage")
    assert prepared.exit_code == 0, prepared.stderr
    trained = run_mlxclin("finetune", "--model", qwen_moe_f32, "--data", tmp_path / "data", "--out", tmp_path / "ad",
                          "--config", "qwen3_5-35b-a3b-eurorad", "--iters", 30, "--batch-size", 4, "--grad-accum", 1,
                          "--rank", 8, "--alpha", 16, "--lr", 2e-3, "--dropout", 0, "--steps-per-eval", 10,
                          "--save-every", 30, "--no-progress")
    assert trained.exit_code == 0, trained.stderr
    report = json.loads((tmp_path / "ad" / "param_report.json").read_text())["by_module_type"]
    assert {"mlp.switch_mlp.gate_proj", "mlp.switch_mlp.up_proj", "mlp.switch_mlp.down_proj"} <= set(
        report["experts"]["keys"])
    assert {"self_attn.q_proj", "linear_attn.in_proj_qkv"} <= set(report["attention"]["keys"])
    assert "trainable parameters by module type" in trained.stdout
    from mlxclin.memory import lora_parameters, model_shape   # the pre-flight counts what is trained (from headers)
    keys = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())["lora_parameters"]["keys"]
    assert lora_parameters(model_shape(qwen_moe_f32), keys, 8, -1) == json.loads(
        (tmp_path / "ad" / "param_report.json").read_text())["trainable_parameters"]

    model, _ = mlx_lm_load(str(qwen_moe_f32), adapter_path=str(tmp_path / "ad"))  # plain mlx-lm, no mlxclin code
    assert any(".switch_mlp." in name and hasattr(m, "lora_a") for name, m in model.named_modules())

    after = run_mlxclin(*evaluate, "--adapter-path", tmp_path / "ad", "--out", tmp_path / "after")
    assert after.exit_code == 0, after.stderr
    print(f"qwen3_5_moe learning check: held-out accuracy {accuracy(tmp_path / 'before'):.1f}% before, "
          f"{accuracy(tmp_path / 'after'):.1f}% after fine-tuning")
    assert accuracy(tmp_path / "after") >= 70.0


@pytest.mark.parametrize("family,recipe,kinds", [
    ("qwen3_5_moe", "qwen3_5-35b-a3b-eurorad", {"attention", "experts", "other"}),
    ("qwen3_5", "qwen3_5-dense-eurorad", {"attention", "other"}),
])
def test_qwen_recipes_match_their_models(family, recipe, kinds, family_toy):
    from mlxclin.finetune.config import load_config
    from mlxclin.finetune.lora import apply_lora, parameter_report
    from mlxclin.models.gpt_oss import load

    model, _, _ = load(family_toy(family))
    config = load_config(recipe)
    apply_lora(model, config)  # raises when a key matches no module
    report = parameter_report(model)
    assert set(report.rows) == kinds
    adapted = {key for row in report.rows.values() for key in row["keys"]}
    assert adapted == set(config.keys)


def test_gemma_prepare_renders_thought_channel_prompt(run_mlxclin, family_toy, finetune_jsonl, short_prompt_file,
                                                      tmp_path):
    from mlx_lm.utils import load_tokenizer

    result = run_mlxclin("finetune", "prepare", "--data", finetune_jsonl, "--model", family_toy("gemma4"), "--out",
                         tmp_path / "d", "--effort", "low", "--prompt-file", short_prompt_file, "--skip-leakage")
    assert result.exit_code == 0, result.stderr
    example = json.loads((tmp_path / "d" / "train.jsonl").read_text().splitlines()[0])
    tok = load_tokenizer(family_toy("gemma4"))
    prompt = tok.decode([i for i, m in zip(example["ids"], example["mask"]) if not m])
    assert prompt.startswith("<bos><|turn>") and prompt.endswith("<|turn>model\n") and "<|think|>" not in prompt
    assert tok.decode([i for i, m in zip(example["ids"], example["mask"]) if m]) == example["gold"] + "<turn|>"
