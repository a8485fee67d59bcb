"""finetune (train) and fuse on the converted toy: loss on trained positions only, mlx-lm adapter format, the
trainable-parameter report, logs, exact resume, fusing."""

import json

import numpy as np
import pytest

from mlxclin.finetune.batches import Example, StepOrder, to_arrays

RANK = 4
TRAIN_ARGS = ["--rank", RANK, "--alpha", 8, "--batch-size", 2, "--grad-accum", 2, "--lr", 1e-3,
              "--steps-per-report", 1, "--steps-per-eval", 2, "--no-progress"]


@pytest.fixture(scope="module")
def prepared(toy_mlx_dir, tmp_path_factory):
    """A prepared DATA_DIR: 12 cases in the released jsonl format, compact prompt, effort low."""
    from conftest import finetune_message_row
    from mlxclin.finetune.prepare import prepare

    root = tmp_path_factory.mktemp("ft")
    options = ["Pulmonary embolism", "Pneumonia", "Lung abscess"]
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps(finetune_message_row(f"Case {i}: cough.", options, options[i % 3])) + "\n"
                            for i in range(12)))
    prompt = root / "prompt.txt"
    prompt.write_text("### user\n{options}\n{case}\n")
    prepare(data, toy_mlx_dir, root / "data", effort="low", valid_fraction=0.25, leakage=False,
            prompt_file=str(prompt), echo=lambda *_: None)
    return root / "data"


@pytest.fixture(scope="module")
def trained(prepared, toy_mlx_dir, tmp_path_factory):
    """Adapters from 3 steps through the CLI, with the captured stdout."""
    from mlxclin.cli import main

    out = tmp_path_factory.mktemp("adapters") / "run"
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main([str(a) for a in ["finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", out,
                                      "--iters", 3, "--save-every", 2, *TRAIN_ARGS]])
    assert code == 0, buffer.getvalue()
    return out, buffer.getvalue()


def test_batches_take_logits_only_at_trained_positions():
    a = Example(ids=[10, 11, 12, 13, 14], mask=[0, 0, 0, 1, 1])
    b = Example(ids=[20, 21, 22], mask=[0, 1, 1])
    inputs, positions, targets, n = to_arrays([a, b])
    assert inputs.tolist() == [[10, 11, 12, 13], [20, 21, 0, 0]]
    # token 13 is predicted at (0, 2), 14 at (0, 3); 21 at (1, 0), 22 at (1, 1); flat width 4
    assert positions.tolist() == [2, 3, 4, 5] and targets.tolist() == [13, 14, 21, 22] and n == 4


def test_step_order_is_a_function_of_seed_and_step():
    order = StepOrder(10, 4, seed=1)
    epoch = [i for s in range(order.steps_per_epoch) for i in order.indices(s)]
    assert order.steps_per_epoch == 3 and sorted(epoch) == list(range(10))
    assert order.indices(4) == StepOrder(10, 4, seed=1).indices(4)        # recomputable after a restart
    assert order.indices(3) != order.indices(0) or order.indices(4) != order.indices(1)   # reshuffled per epoch


def test_loss_equals_masked_full_vocabulary_cross_entropy(prepared, toy_mlx_dir):
    import mlx.core as mx
    import mlx.nn as nn

    from mlxclin.finetune.batches import load_split
    from mlxclin.finetune.train import token_loss_sum
    from mlxclin.models.gpt_oss import load

    model, _, _ = load(toy_mlx_dir)
    examples, _ = load_split(prepared, "train", 4096)
    inputs, positions, targets, n = to_arrays(examples[:3])
    ours = token_loss_sum(model, inputs, positions, targets).item()
    # reference: full logits at every position, cross-entropy where the next token is trained
    logits = model(inputs).astype(mx.float32)
    width = inputs.shape[1]
    ids = np.zeros((3, width + 1), dtype=np.int32)
    mask = np.zeros((3, width + 1), dtype=bool)
    for b, e in enumerate(examples[:3]):
        ids[b, :len(e.ids)], mask[b, :len(e.mask)] = e.ids, e.mask
    ce = nn.losses.cross_entropy(logits, mx.array(ids[:, 1:]))
    reference = (ce * mx.array(mask[:, 1:])).sum().item()
    assert n == int(mask[:, 1:].sum()) and ours == pytest.approx(reference, rel=1e-4)


def test_finetune_writes_mlx_lm_adapters_and_reports_attention_and_experts(trained, toy_mlx_dir):
    out, stdout = trained
    # trainable-parameter report: the toy has 2 blocks; attention q/k/v/o 64->256/128/128, 256->64; 4 experts
    report = json.loads((out / "param_report.json").read_text())["by_module_type"]
    assert report["attention"]["modules"] == 8 and report["attention"]["parameters"] == 2 * RANK * 1024
    assert report["experts"]["modules"] == 6 and report["experts"]["parameters"] == 2 * 3 * 4 * RANK * 128
    assert "attention                   8" in stdout and "experts                     6" in stdout
    # logs: every report step with speed and memory, validation every 2 steps and at the end
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    train = [r for r in log if r["type"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3]
    assert all(r["iterations_per_second"] > 0 and r["trained_tokens_per_second"] > 0 and r["peak_memory_gb"] > 0
               and r["rss_gb"] > 0 for r in train)
    assert [r["step"] for r in log if r["type"] == "valid"] == [2, 3]
    # mlx-lm format: plain mlx_lm.load applies the adapters, and they change the model's output
    import mlx.core as mx
    from mlx_lm import load as mlx_lm_load

    config = json.loads((out / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora" and config["lora_parameters"]["scale"] == 2.0
    base, _ = mlx_lm_load(str(toy_mlx_dir))
    adapted, _ = mlx_lm_load(str(toy_mlx_dir), adapter_path=str(out))
    names = {name for name, _ in adapted.named_modules() if name.endswith("experts.up_proj")}
    assert names and all(hasattr(m, "lora_a") for n, m in adapted.named_modules() if n in names)
    x = mx.array([[200006, 17360, 200008, 3575, 553]])
    assert not mx.allclose(base(x), adapted(x)).item()


@pytest.mark.slow
def test_resume_reaches_the_same_adapters_as_an_uninterrupted_run(prepared, toy_mlx_dir, tmp_path, run_mlxclin):
    import mlx.core as mx

    common = ["finetune", "--model", toy_mlx_dir, "--data", prepared, "--iters", 4, "--save-every", 2,
              "--dropout", 0.1, *TRAIN_ARGS]
    straight = run_mlxclin(*common, "--out", tmp_path / "straight")
    assert straight.exit_code == 0, straight.stderr
    first = run_mlxclin(*common, "--out", tmp_path / "resumed", "--stop-after-step", 2)
    assert first.exit_code == 0 and "continue with --resume" in first.stdout
    assert not (tmp_path / "resumed" / "checkpoints" / "step-0000004").exists()
    again = run_mlxclin(*common, "--out", tmp_path / "resumed")
    assert again.exit_code == 2 and "--resume" in again.stderr
    changed = run_mlxclin(*common, "--out", tmp_path / "resumed", "--resume", "--rank", 8)
    assert changed.exit_code == 2 and "rank 4 -> 8" in changed.stderr
    resumed = run_mlxclin(*common, "--out", tmp_path / "resumed", "--resume")
    assert resumed.exit_code == 0 and "resuming from" in resumed.stdout
    for name in ("adapters.safetensors", "checkpoints/step-0000004/optimizer.safetensors"):
        a, b = mx.load(str(tmp_path / "straight" / name)), mx.load(str(tmp_path / "resumed" / name))
        assert a.keys() == b.keys()
        for key in a:
            assert mx.allclose(a[key], b[key], atol=1e-6).item(), key
    steps = lambda d: [json.loads(x)["step"] for x in (d / "train_log.jsonl").read_text().splitlines()]  # noqa: E731
    assert steps(tmp_path / "straight") == steps(tmp_path / "resumed")
    # the interrupted run moved: its adapters at step 2 differ from the final ones
    mid = mx.load(str(tmp_path / "resumed" / "checkpoints" / "step-0000002" / "adapters.safetensors"))
    final = mx.load(str(tmp_path / "resumed" / "adapters.safetensors"))
    assert any(not mx.allclose(mid[k], final[k]).item() for k in final)


def test_finetune_cli_errors(run_mlxclin, prepared, toy_mlx_dir, tmp_path):
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared)
    assert result.exit_code == 2 and "--out" in result.stderr
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "finetune prepare" in result.stderr
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "o",
                         "--keys", "self_attn.q_proj,mlp.nope")
    assert result.exit_code == 2 and "mlp.nope" in result.stderr
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "o",
                         "--resume")
    assert result.exit_code == 2 and "no checkpoint" in result.stderr
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "o",
                         "--iters", 2, "--epochs", 1)
    assert result.exit_code == 2 and "not both" in result.stderr
    assert run_mlxclin("finetune").exit_code == 0


@pytest.mark.slow
def test_fuse_requantizes_mxfp4_experts_and_measures_the_logit_change(trained, toy_mlx_dir, tmp_path, run_mlxclin):
    from mlx_lm import load as mlx_lm_load

    adapters, _ = trained
    result = run_mlxclin("finetune", "fuse", "--model", toy_mlx_dir, "--adapter-path", adapters,
                         "--out", tmp_path / "fused")
    assert result.exit_code == 0, result.stderr
    assert "experts re-quantized to mxfp4" in result.stdout and "logit change fused vs base + adapter" in result.stdout
    config = json.loads((tmp_path / "fused" / "config.json").read_text())
    assert config["mlxclin_fused"]["experts_requantized"] is True
    model, _ = mlx_lm_load(str(tmp_path / "fused"))   # a plain model again: no LoRA layers
    assert not any(hasattr(m, "lora_a") for _, m in model.named_modules())
    assert type(model.layers[0].mlp.experts.up_proj).__name__ == "QuantizedSwitchLinear"

    # an adapter that moves the model a lot (3 steps barely do): lora_b scaled up
    import shutil

    import mlx.core as mx

    from mlxclin.finetune.fuse import fuse

    strong = tmp_path / "strong"
    shutil.copytree(adapters, strong, ignore=shutil.ignore_patterns("checkpoints"))
    weights = mx.load(str(strong / "adapters.safetensors"))
    mx.save_safetensors(str(strong / "adapters.safetensors"),
                        {k: v * 30 if k.endswith("lora_b") else v for k, v in weights.items()})
    exact = fuse(toy_mlx_dir, strong, tmp_path / "exact", dequantize=True, fused_dtype="float32")
    dense = fuse(toy_mlx_dir, strong, tmp_path / "dense", dequantize=True)
    requantized = fuse(toy_mlx_dir, strong, tmp_path / "requantized")
    assert not dense.experts_requantized and requantized.experts_requantized
    assert dense.adapter_mean_abs_effect == pytest.approx(requantized.adapter_mean_abs_effect, rel=1e-4)
    # what --help claims: float32 storage is exactly the float32 merge, and in float32 the fused model computes
    # what base + adapter computes (up to float32 summation order); bfloat16 storage is one rounding away
    assert exact.max_weight_error == 0.0 and exact.top1_agreement == 1.0
    assert exact.mean_abs_logit_change < 1e-3 * exact.adapter_mean_abs_effect
    assert 0 < dense.max_weight_error <= 2 ** -8
    assert exact.mean_abs_logit_change < dense.mean_abs_logit_change < requantized.mean_abs_logit_change
    # the fusion keeps the fine-tuning (not the base model's behaviour): fused is as far from base as the adapter
    for report in (exact, dense, requantized):
        assert report.fused_vs_base == pytest.approx(report.adapter_mean_abs_effect, rel=0.25)
    again = run_mlxclin("finetune", "fuse", "--model", toy_mlx_dir, "--adapter-path", adapters,
                        "--out", tmp_path / "fused")
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_resume_works_after_a_torn_last_log_line(prepared, toy_mlx_dir, tmp_path, run_mlxclin):
    common = ["finetune", "--model", toy_mlx_dir, "--data", prepared, "--iters", 2, "--save-every", 1,
              "--out", tmp_path / "run", *TRAIN_ARGS]
    assert run_mlxclin(*common, "--stop-after-step", 1).exit_code == 0
    log = tmp_path / "run" / "train_log.jsonl"
    with open(log, "a") as f:
        f.write('{"step": 2, "train_lo')          # killed mid-write
    resumed = run_mlxclin(*common, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "train_log.jsonl line" in resumed.stdout and "is torn" in resumed.stdout
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_fused_weights_are_what_the_fuse_help_says(trained, toy_mlx_dir, tmp_path):
    """Per weight: --dequantize-experts with float32 storage is bit-for-bit the float32 merge W + scale*B*A;
    with bfloat16 storage every element is within one bfloat16 rounding (relative 2^-8) of it."""
    import mlx.core as mx

    from mlxclin.finetune.fuse import exact_merge, merged_layer
    from mlxclin.models.gpt_oss import load

    adapters, _ = trained
    model, _, _ = load(toy_mlx_dir, adapter_path=adapters)
    name, lora = next((n, m) for n, m in model.named_modules() if n.endswith("experts.up_proj"))
    assert hasattr(lora.linear, "scales")                       # the experts are MXFP4 in the toy
    w = mx.dequantize(lora.linear.weight, lora.linear.scales, group_size=lora.linear.group_size,
                      bits=lora.linear.bits, mode=lora.linear.mode, dtype=mx.float32)
    independent = w + (lora.scale * lora.lora_b.astype(mx.float32)) @ lora.lora_a.astype(mx.float32).reshape(
        w.shape[0], -1, w.shape[2])
    assert mx.array_equal(exact_merge(lora), independent).item()
    f32, _ = merged_layer(lora, dequantize=True, dtype=mx.float32)
    assert f32.weight.dtype == mx.float32 and mx.array_equal(f32.weight, independent).item()
    bf16, _ = merged_layer(lora, dequantize=True, dtype=mx.bfloat16)
    error = mx.abs(bf16.weight.astype(mx.float32) - independent)
    assert bf16.weight.dtype == mx.bfloat16 and mx.all(error <= 2 ** -8 * mx.abs(independent)).item()
    requantized, _ = merged_layer(lora, dequantize=False, dtype=mx.bfloat16)
    assert type(requantized).__name__ == "QuantizedSwitchLinear" and requantized.mode == "mxfp4"
