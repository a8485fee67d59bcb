"""Real gpt-oss dimensions: the toy presets, bounded-memory convert, layer-by-layer verify, memory pre-flight."""

import json
import shutil

import mlx.core as mx
import pytest

from mlxclin.errors import MlxclinError
from mlxclin.models.convert import RECIPES, apply_recipe, convert
from mlxclin.models.safetensors_stream import contiguous_shards, tensor_bytes
from mlxclin.models.toy import preset_config, release_shard_name, tensor_specs


def _parameters(specs) -> int:
    """Parameters as the model card counts them (MXFP4 blocks hold 2 per byte, scales are not parameters)."""
    total = 0
    for name, dtype, shape, _ in specs:
        n = 1
        for d in shape:
            n *= d
        total += 2 * n if name.endswith("_blocks") else (0 if name.endswith("_scales") else n)
    return total


@pytest.mark.parametrize("preset,params,files", [("gpt-oss-20b", 20.91e9, 3), ("gpt-oss-120b", 116.83e9, 15)])
def test_presets_have_released_sizes_and_shard_names(preset, params, files):
    specs = tensor_specs(preset_config(preset))
    assert abs(_parameters(specs) - params) / params < 0.005   # the model cards: 20.91 B and 116.83 B
    shards = contiguous_shards([tensor_bytes(d, s) for _, d, s, _ in specs], PRESET_SHARDS[preset])
    assert max(shards) + 1 == files and sorted(set(shards)) == list(range(files))
    assert [release_shard_name(i, files) for i in (0, files - 1)] == \
        [f"model-00000-of-{files - 1:05d}.safetensors", f"model-{files - 1:05d}-of-{files - 1:05d}.safetensors"]


PRESET_SHARDS = {"gpt-oss-20b": 3, "gpt-oss-120b": 15}


def test_chunked_convert_equals_whole_model_recipe(toy_hf_dir, tmp_path):
    """Every recipe computed module by module in row chunks equals mlx-lm's whole-model transformation bitwise."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import load_model

    from mlxclin.models.gpt_oss import model_classes

    for recipe in RECIPES:
        result = convert(str(toy_hf_dir), tmp_path / recipe, recipe=recipe)
        model, config = load_model(toy_hf_dir, lazy=True, get_model_classes=model_classes)
        expected = dict(tree_flatten(apply_recipe(model, config, recipe, result.dtype, None)[0].parameters()))
        got = {}
        for shard in sorted(result.path.glob("*.safetensors")):
            got.update(mx.load(str(shard)))
        assert set(got) == set(expected), recipe
        for name, value in expected.items():
            assert got[name].dtype == value.dtype and mx.array_equal(got[name], value).item(), (recipe, name)


def test_verify_uses_the_layer_by_layer_path(toy_hf_dir, toy_mlx_dir, monkeypatch):
    pytest.importorskip("torch")
    from mlxclin.models import verify, verify_layers

    built = []
    real = verify_layers.reference_layer
    monkeypatch.setattr(verify_layers, "reference_layer", lambda t, c, i: built.append(i) or real(t, c, i))
    monkeypatch.setattr(verify, "mlx_reference", lambda src: pytest.fail("whole-model reference used"))
    report = verify.verify_conversion(toy_hf_dir, toy_mlx_dir, "mxfp4")
    assert built == [0, 1] and report.layerwise and "one at a time" in report.coverage
    assert report.passed, report.failures()


def test_finetune_refused_before_loading(toy_mlx_dir, tmp_path, monkeypatch):
    from mlxclin.finetune import train as train_module
    from mlxclin.finetune.config import TrainConfig

    data = tmp_path / "data"
    data.mkdir()
    row = json.dumps({"ids": list(range(200000, 200064)), "mask": [0] * 32 + [1] * 32})
    (data / "train.jsonl").write_text(row + "\n")
    (data / "valid.jsonl").write_text(row + "\n")
    monkeypatch.setattr("mlxclin.models.gpt_oss.load", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(MlxclinError, match="exceeds the 0.1 GB available.*--no-expert-lora"):
        train_module.train(toy_mlx_dir, data, tmp_path / "out", TrainConfig(iters=1), memory_budget_gb=0.1,
                           progress=False)


def test_eval_estimate_and_batch_size(toy_mlx_dir):
    from mlxclin.memory import estimate_eval_memory, model_shape, pick_batch_size

    shape = model_shape(toy_mlx_dir)
    one, four = (estimate_eval_memory(toy_mlx_dir, b, 512, 256) for b in (1, 4))
    assert one.parts["weights"] == four.parts["weights"] == shape.weight_bytes
    assert four.parts["kv_cache"] == 4 * one.parts["kv_cache"] > 0
    # sliding layers hold the window only: doubling the context less than doubles the cache
    longer = estimate_eval_memory(toy_mlx_dir, 1, 2 * 512 + 256, 256)   # context 768 -> 1536
    assert longer.parts["kv_cache"] < 2 * one.parts["kv_cache"]
    budget = (one.total + 2.5 * (four.total - one.total) / 3) / 1e9   # room for batch 3, not 4
    assert pick_batch_size(toy_mlx_dir, 512, 256, budget_gb=budget) == 3
    with pytest.raises(MlxclinError, match="even at batch size 1"):
        pick_batch_size(toy_mlx_dir, 512, 256, budget_gb=one.total / 2e9)


# --- real width (gpt-oss-20b dimensions, 2 layers): several GB on disk, minutes on a CPU -------------------------


@pytest.fixture(scope="module")
def real_hf_dir(tmp_path_factory):
    from mlxclin.models.toy import write_toy_checkpoint

    return write_toy_checkpoint(tmp_path_factory.mktemp("real") / "hf", preset_config("gpt-oss-20b", layers=2))


@pytest.mark.slow
def test_real_width_layout_convert_and_generate(real_hf_dir, tmp_path):
    from mlx_lm import generate, load

    index = json.loads((real_hf_dir / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == [release_shard_name(i, 3) for i in range(3)]
    config = json.loads((real_hf_dir / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]) == (2880, 64, 8)
    assert (config["num_local_experts"], config["sliding_window"], config["vocab_size"]) == (32, 128, 201088)
    for recipe in ("mxfp4", "q8", "q4"):
        out = convert(str(real_hf_dir), tmp_path / recipe, recipe=recipe)
        model, tokenizer = load(str(out.path))
        text = generate(model, tokenizer, "Hello", max_tokens=2)
        assert len(tokenizer.encode(text, add_special_tokens=False)) >= 1
        del model
        shutil.rmtree(out.path)   # one real-width conversion on disk at a time


@pytest.mark.slow
@pytest.mark.parametrize("rank", [4, 16])
def test_finetune_estimate_within_20_percent(real_hf_dir, tmp_path_factory, rank):
    from mlxclin.finetune.config import TrainConfig
    from mlxclin.finetune.train import train
    from mlxclin.memory import estimate_finetune_memory

    root = tmp_path_factory.getbasetemp() / "real-q4"
    model = root if (root / "config.json").exists() else convert(str(real_hf_dir), root, recipe="q4").path
    data = tmp_path_factory.mktemp("ft-data")
    rows = [json.dumps({"ids": [200006 + (i + j) % 50 for j in range(48)], "mask": [0] * 40 + [1] * 8})
            for i in range(2)]
    (data / "train.jsonl").write_text("\n".join(rows) + "\n")
    (data / "valid.jsonl").write_text(rows[0] + "\n")
    config = TrainConfig(rank=rank, alpha=2.0 * rank, iters=1, grad_accum=1, steps_per_report=1, save_every=1)
    out = tmp_path_factory.mktemp("ft-out")
    train(model, data, out, config, progress=False)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    measured = max(r["peak_memory_gb"] for r in log if r["type"] == "train")
    estimate = estimate_finetune_memory(model, config, 48, 8).total / 1e9
    assert abs(estimate - measured) / measured <= 0.2, (estimate, measured)
