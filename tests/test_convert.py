"""`mlxclin convert`: every recipe loads in plain mlx-lm and generates; MXFP4 stays bit-exact; bad input fails
in one line."""

import json
import shutil

import mlx.core as mx
import numpy as np
import pytest
from safetensors import safe_open

from mlxclin.device import metal_available
from mlxclin.models.convert import RECIPES, convert
from support import assert_one_line_error


@pytest.fixture(scope="module")
def converted(toy_hf_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("recipes")
    return {r: convert(str(toy_hf_dir), root / r, recipe=r) for r in RECIPES}


def _tensors(folder):
    out = {}
    for shard in sorted(folder.glob("*.safetensors")):
        out.update(mx.load(str(shard)))
    return out


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_loads_and_generates_with_plain_mlx_lm(converted, recipe):
    from mlx_lm import generate, load

    result = converted[recipe]
    config = json.loads((result.path / "config.json").read_text())
    assert config["torch_dtype"] == result.dtype and config["mlxclin_recipe"] == recipe
    assert config["rope_scaling"]["truncate"] is False
    assert result.size_bytes > 0 and result.bits_per_weight > 0
    model, tokenizer = load(str(result.path))
    if recipe == "bf16" and not metal_available():
        # MLX's CPU gather_mm only runs float32, so plain mlx-lm cannot run dense bf16 experts on Linux;
        # mlxclin's own loader upcasts them in memory (checked below).
        with pytest.raises(RuntimeError, match="float32"):
            generate(model, tokenizer, "Hello", max_tokens=2)
        from mlxclin.models.gpt_oss import load as mlxclin_load

        model, tokenizer, _ = mlxclin_load(result.path)
    text = generate(model, tokenizer, "Hello", max_tokens=4)
    assert len(tokenizer.encode(text, add_special_tokens=False)) >= 1


def test_bits_per_weight_orders_recipes(converted):
    bpw = {r: converted[r].bits_per_weight for r in RECIPES}
    assert bpw["q4"] < bpw["q8"] < bpw["bf16"] < bpw["f32"]
    assert bpw["mxfp4-q8"] < bpw["mxfp4"]


def test_mxfp4_experts_are_bit_exact(toy_hf_dir, converted):
    out = _tensors(converted["mxfp4"].path)
    src = {}
    for shard in sorted(toy_hf_dir.glob("*.safetensors")):
        with safe_open(shard, "np") as f:
            src.update({k: f.get_tensor(k) for k in f.keys() if k.endswith(("_blocks", "_scales"))})
    assert src
    for key, value in src.items():
        prefix, kind = key.rsplit(".", 1)[0], key.rsplit("_", 1)[1]
        proj = "gate_up" if "gate_up" in key else "down"
        if kind == "blocks":  # [E, rows, G, 16] bytes -> MLX packs the same bytes as uint32 words
            value = value.reshape(*value.shape[:-2], -1)
        pairs = {"gate_up": [("gate_proj", slice(0, None, 2)), ("up_proj", slice(1, None, 2))],
                 "down": [("down_proj", slice(None))]}[proj]
        for name, rows in pairs:
            mlx_key = f"{prefix}.{name}.{'weight' if kind == 'blocks' else 'scales'}"
            got = np.array(out[mlx_key].view(mx.uint8)).reshape(value[:, rows].shape)
            assert np.array_equal(got, value[:, rows]), mlx_key


def test_q8_really_requantizes_experts(converted):
    out = _tensors(converted["q8"].path)
    w = out["model.layers.0.mlp.experts.gate_proj.weight"]
    assert "model.layers.0.mlp.experts.gate_proj.biases" in out  # affine has biases; MXFP4 does not
    config = json.loads((converted["q8"].path / "config.json").read_text())
    assert config["quantization"]["bits"] == 8 and config["quantization"].get("mode", "affine") == "affine"
    assert w.dtype == mx.uint32


@pytest.mark.slow
def test_transformers5_config_and_dense_hf_checkpoint(toy_hf_dir, tmp_path):
    """rope_parameters/dtype (transformers 5) and a dequantized bf16 checkpoint, which mlx-lm refuses."""
    torch = pytest.importorskip("torch")
    from transformers import GptOssForCausalLM, Mxfp4Config

    hf = GptOssForCausalLM.from_pretrained(toy_hf_dir, dtype=torch.bfloat16,
                                           quantization_config=Mxfp4Config(dequantize=True))
    dense = tmp_path / "dense"
    hf.save_pretrained(dense)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copyfile(toy_hf_dir / f, dense / f)
    config = json.loads((dense / "config.json").read_text())
    assert "rope_parameters" in config and "quantization_config" not in config  # what transformers 5 writes
    out = convert(str(dense), tmp_path / "out", recipe="f32")
    saved = json.loads((out.path / "config.json").read_text())
    assert saved["rope_scaling"]["truncate"] is False and saved["rope_theta"] == 150000
    assert "rope_parameters" not in saved and "dtype" not in saved
    from mlxclin.models.verify import verify_conversion

    report = verify_conversion(str(dense), out.path, "f32")
    assert report.passed, report.failures()


# --- bad input: one line on stderr, non-zero exit, no traceback --------------------------------------------------


def test_missing_dir(run_mlxclin, tmp_path):
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", tmp_path / "nope", "--mlx-path", tmp_path / "o"))
    assert "no such folder" in line


def test_no_config(run_mlxclin, tmp_path):
    (tmp_path / "src").mkdir()
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", tmp_path / "src", "--mlx-path", tmp_path / "o"))
    assert "config.json" in line


def test_wrong_model_type(run_mlxclin, toy_hf_dir, tmp_path):
    src = tmp_path / "llama"
    shutil.copytree(toy_hf_dir, src)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", src, "--mlx-path", tmp_path / "o"))
    assert "'llama'" in line and "gpt_oss" in line


def test_truncated_shard(run_mlxclin, toy_hf_dir, tmp_path):
    src = tmp_path / "cut"
    shutil.copytree(toy_hf_dir, src)
    shard = sorted(src.glob("model-*.safetensors"))[-1]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", src, "--mlx-path", tmp_path / "o"))
    assert "truncated" in line and shard.name in line
    assert not (tmp_path / "o").exists()


def test_existing_output_needs_force(run_mlxclin, toy_hf_dir, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("finished work")
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", toy_hf_dir, "--mlx-path", out))
    assert "--force" in line
    assert (out / "keep.txt").read_text() == "finished work"
    ok = run_mlxclin("convert", "--hf-path", toy_hf_dir, "--mlx-path", out, "--force")
    assert ok.exit_code == 0 and "bits per weight" in ok.stdout and "GB on disk" in ok.stdout
    assert not (out / "keep.txt").exists() and (out / "config.json").exists()


def test_offline_repo_id_is_one_line(run_mlxclin, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = assert_one_line_error(run_mlxclin("convert", "--hf-path", "openai/gpt-oss-20b", "--mlx-path", tmp_path / "o"))
    assert "Hugging Face Hub" in line
