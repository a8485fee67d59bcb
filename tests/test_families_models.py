"""Qwen3.5 / Gemma 4 toys end to end: HF layout, prompts, convert + verify against transformers, eval run dirs."""

import json

import pytest

from support import assert_one_line_error

FAMILIES = ("qwen3_5", "qwen3_5_moe", "gemma4")


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.torch
@pytest.mark.parametrize("family", FAMILIES)
def test_toy_is_the_layout_transformers_loads(family, family_toy):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model, info = transformers.AutoModelForCausalLM.from_pretrained(family_toy(family), dtype=torch.float32,
                                                                    output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    config = json.loads((family_toy(family) / "config.json").read_text())
    assert config["model_type"] == family and "text_config" in config
    index = json.loads((family_toy(family) / "model.safetensors.index.json").read_text())
    assert all(k.startswith(("model.language_model.", "lm_head.")) for k in index["weight_map"])
    assert len(set(index["weight_map"].values())) == 2


def test_chat_templates_follow_the_families_formats(family_toy):
    from mlx_lm.utils import load_tokenizer

    from mlxclin.models.families import GEMMA4, QWEN3_5, render_prompt

    msgs = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Cause of chest pain?"}]
    qwen = load_tokenizer(family_toy("qwen3_5"))
    on, off = (qwen.decode(render_prompt(qwen, QWEN3_5, msgs, e)) for e in ("high", "low"))
    assert on == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCause of chest pain?<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\n")
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    gemma = load_tokenizer(family_toy("gemma4"))
    on, off = (gemma.decode(render_prompt(gemma, GEMMA4, msgs, e)) for e in ("high", "low"))
    assert on == ("<bos><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nCause of chest pain?<turn|>\n"
                  "<|turn>model\n")
    assert "<|think|>" not in off and off.endswith("<|turn>model\n")


def test_toy_model_command_writes_each_family(run_mlxclin, tmp_path):
    result = run_mlxclin("toy-model", tmp_path / "g", "--family", "gemma4")
    assert result.exit_code == 0, result.stderr
    assert "toy gemma4 checkpoint" in result.stdout
    assert json.loads((tmp_path / "g" / "config.json").read_text())["architectures"] == \
        ["Gemma4ForConditionalGeneration"]
    assert_one_line_error(run_mlxclin("toy-model", tmp_path / "q", "--family", "qwen3_5", "--layers", "3"),
                          "multiple of 4")


def test_unsupported_model_type_and_mlx_checkpoints_are_refused(run_mlxclin, family_toy, tmp_path):
    import shutil

    llama = tmp_path / "llama"
    shutil.copytree(family_toy("qwen3_5"), llama)
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert_one_line_error(run_mlxclin("convert", "--hf-path", llama, "--mlx-path", tmp_path / "o"),
                          "model_type 'llama' is not supported", "qwen3_5_moe", "gemma4")
    converted = tmp_path / "bf16"
    assert run_mlxclin("convert", "--hf-path", family_toy("qwen3_5"), "--mlx-path", converted).exit_code == 0
    assert_one_line_error(run_mlxclin("convert", "--hf-path", converted, "--mlx-path", tmp_path / "again"),
                          "already an MLX checkpoint")
    assert_one_line_error(run_mlxclin("convert", "--hf-path", family_toy("qwen3_5"), "--mlx-path", tmp_path / "x",
                                      "--recipe", "mxfp4"), "not offered for this model family")


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("family", FAMILIES)
def test_every_recipe_verifies_against_transformers(family, family_toy, tmp_path):
    pytest.importorskip("torch")
    from mlxclin.models.family_convert import FAMILY_RECIPES, convert_family
    from mlxclin.models.family_verify import verify_family

    src = family_toy(family)
    sizes = {}
    for recipe in FAMILY_RECIPES:
        result = convert_family(src, tmp_path / recipe, recipe)
        report = verify_family(src, result.path, recipe)
        assert report.passed, report.failures()
        assert max(p.tokens for p in report.prompts) > 16  # longer than the Gemma toy's sliding window
        sizes[recipe] = result.bits_per_weight
        if recipe in ("f32", "bf16"):  # exact conversion (bf16: of the bf16-rounded weights): top-1 everywhere
            assert all(p.top1_agreement == 1.0 and p.max_abs_diff < 1e-3 for p in report.prompts), report.prompts
        if recipe == "bf16":  # what the rounding itself costs against the unrounded source stays small
            assert _kl_against_unrounded_source(src, result.path) <= 1e-3
    assert round(sizes["f32"]) == 32 and round(sizes["bf16"]) == 16 and 8 < sizes["q8"] < 9 and 4 < sizes["q4"] < 5
    assert sizes["q4"] < sizes["mixed_4_6"] < sizes["q8"] and sizes["mixed_3_6"] < sizes["mixed_4_6"]


def _kl_against_unrounded_source(src, mlx_path) -> float:
    import mlx.core as mx

    from mlxclin.models.convert import cast_floats
    from mlxclin.models.family_verify import family_prompt_ids, transformers_family_reference
    from mlxclin.models.gpt_oss import load
    from mlxclin.models.verify import compare_logits, mlx_logits

    ref, name = transformers_family_reference(src)
    assert "rounded" not in name
    model, _, _ = load(mlx_path)
    cast_floats(model, mx.float32)
    return max(compare_logits(ref(ids), mlx_logits(model, ids))[2] for ids in family_prompt_ids(src).values())


@pytest.mark.torch
def test_bf16_reference_rounds_qwen_norms_as_the_checkpoint_stores_them(family_toy):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from mlxclin.models.family_verify import round_like_bf16_checkpoint

    model = transformers.AutoModelForCausalLM.from_pretrained(family_toy("qwen3_5"), dtype=torch.float32)
    norm = model.model.norm.weight
    norm.data[:3] = torch.tensor([0.1234567, -0.05, 0.0])
    assert round_like_bf16_checkpoint(model) == 11  # 2 per layer x 4 layers + final norm + q/k norms of 1 layer
    assert torch.equal(1.0 + norm[:3], torch.tensor([1.125, 0.94921875, 1.0]))  # bf16(1 + w): 8-bit mantissa
    gemma = transformers.AutoModelForCausalLM.from_pretrained(family_toy("gemma4"), dtype=torch.float32)
    assert round_like_bf16_checkpoint(gemma) == 0  # Gemma 4 scales by w itself


@pytest.mark.torch
def test_convert_cli_prints_size_and_verifies(run_mlxclin, family_toy, tmp_path):
    pytest.importorskip("torch")
    result = run_mlxclin("convert", "--hf-path", family_toy("gemma4"), "--mlx-path", tmp_path / "f32",
                         "--recipe", "f32", "--verify")
    assert result.exit_code == 0, result.stderr
    assert "bits per weight" in result.stdout and "GB on disk" in result.stdout
    assert "against transformers" in result.stdout
    assert "PASS" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("task,family", [("eurorad", "qwen3_5"), ("ophtho", "gemma4"), ("judge", "qwen3_5_moe")])
def test_eval_writes_run_dirs_with_reasoning_separated(task, family, family_toy, run_mlxclin, tmp_path):
    from mlxclin.commands.demo import _data_dir

    folder, _ = _data_dir(None, tmp_path)
    data = {"eurorad": folder / "eurorad_test.csv", "ophtho": folder / "ophthalmology.csv", "judge": folder}[task]
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--task", task, "--backend", "mlx", "--model", family_toy(family), "--data", data,
                         "--limit", "2", "--runs", "1", "--max-tokens", "8", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    for name in ("config.json", "samples.jsonl", "metrics.json", "perf.json"):
        assert (out / name).exists(), name
    samples = _lines(out / "samples.jsonl")
    assert len(samples) == (4 if task == "judge" else 2)
    label = ("Gemma 4" if family == "gemma4" else "Qwen3.5") + " · thinking on"
    assert f"{task} · {family_toy(family)} · {label} · 1 run(s)" in result.stdout  # the printed summary header
    from mlxclin.report.rows import assign_labels, rows_from_run
    from mlxclin.report.rundirs import load_run

    rows = rows_from_run(load_run(out))
    assign_labels(rows)
    assert [r.label for r in rows] == [f"hf · {label} · medium"]
    for s in samples:
        assert s["format"] == ("gemma4" if family == "gemma4" else "qwen3_5")
        assert s["extra"]["thinking"] is True
        # thinking was on, so the prompt opened <think>: Qwen's text is reasoning until a </think> closes it
        if family != "gemma4":
            assert s["reasoning"]
            if "</think>" not in s["raw"]:
                assert s["final"] == "" and s["extra"]["reasoning_unclosed"] and s["status"] == "unparsed"


def test_run_settings_record_thinking_and_model_card_sampling(family_toy, toy_hf_dir):
    from mlxclin.errors import MlxclinError
    from mlxclin.models.families import run_settings

    settings = run_settings(family_toy("qwen3_5_moe"), ["low", "high"])
    assert settings["low"]["thinking"] is False and settings["high"]["thinking"] is True
    assert settings["high"]["recommended_sampling"] == {"temperature": 1.0, "top_p": 0.95, "top_k": 20,
                                                        "min_p": 0.0, "presence_penalty": 1.5}
    assert run_settings(family_toy("gemma4"), ["medium"])["medium"]["recommended_sampling"]["top_k"] == 64
    assert run_settings(toy_hf_dir, ["medium"]) is None  # gpt-oss: Harmony effort, not a family switch
    with pytest.raises(MlxclinError, match="Gemma 4 has no such thinking setting"):
        run_settings(family_toy("gemma4"), ["max"])


def test_report_rows_name_the_family_and_its_thinking_switch(tmp_path):
    from mlxclin.report.rows import assign_labels, rows_from_run
    from mlxclin.report.rundirs import RunDir

    def run(name, model_family, efforts=("low", "high")):
        blocks = {e: {"task": "eurorad", "model": f"/models/{name}", "effort": e} for e in efforts}
        metrics = {"task": "eurorad", "model": f"/models/{name}", "by_effort": blocks}
        return RunDir(tmp_path / name, {"backend": "mlx", "model_family": model_family}, metrics, None)

    qwen = {e: {"family": "qwen3_5", "family_label": "Qwen3.5", "thinking": e != "low"} for e in ("low", "high")}
    rows = rows_from_run(run("q35-a3b-4bit", qwen)) + rows_from_run(run("gpt-oss-20b", None))
    assign_labels(rows)
    assert [r.label for r in rows] == ["q35-a3b-4bit · Qwen3.5 · thinking off · low",
                                       "q35-a3b-4bit · Qwen3.5 · thinking on · high",
                                       "gpt-oss-20b · low", "gpt-oss-20b · high"]


def test_doctor_lists_the_families_per_recipe(run_mlxclin):
    result = run_mlxclin("doctor", "--json")
    assert result.exit_code == 0, result.stderr
    table = json.loads(result.stdout)["family_models"]
    assert set(table) == {"Qwen3.5-9B", "Qwen3.5-27B", "Qwen3.5-35B-A3B", "Gemma-4-31B"}
    for row in table.values():
        needs = [row[r]["needs_gb"] for r in ("q4", "mixed_4_6", "q8", "bf16")]
        assert needs == sorted(needs) and needs[0] > 4
    assert table["Qwen3.5-35B-A3B"]["bf16"]["needs_gb"] > 70  # 35e9 params x 2 bytes + KV headroom
    text = run_mlxclin("doctor").stdout
    assert "Qwen3.5-35B-A3B" in text and "mixed_4_6" in text
