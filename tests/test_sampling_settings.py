"""Which sampling a run uses and where each value came from: flags, --config keys, the checkpoint's
generation_config.json, the model card, gpt-oss's default; config.json records them and refuses a resume that
changes them; beam search, replays and the OpenAI APIs refuse what they cannot apply."""

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from mlxclin.errors import MlxclinError

sys.path.insert(0, str(Path(__file__).parent))
from support import assert_one_line_error  # noqa: E402

QWEN_CARD = "Qwen3.5 model cards, thinking mode for general tasks"
GENERATED = "generation_config.json"


def _config(tiny_eurorad_csv, **settings) -> dict:
    """config.json as `eval` would write it (settings and data only: no model is loaded)."""
    from mlxclin.evaluation.setup import load_inputs, run_config
    from mlxclin.evaluation.spec import EvalSpec

    spec = EvalSpec.from_sources(settings.pop("config_file", None), task="eurorad", data=str(tiny_eurorad_csv),
                                 **settings)
    return run_config(spec, load_inputs(spec))


def _sampling(config: dict) -> tuple:
    from mlxclin.decoding.sampling import SAMPLING_FIELDS

    return {k: config[k] for k in SAMPLING_FIELDS}, config["sampling_sources"]


@pytest.mark.parametrize("name, value, fragment", [
    ("top_k", -1, "--top-k: must be at least 0"), ("top_k", 2.5, "--top-k: must be an integer"),
    ("min_p", 1.0, "--min-p: must be less than 1"), ("min_p", -0.1, "--min-p: must be at least 0"),
    ("presence_penalty", math.nan, "--presence-penalty: must be a finite number"),
    ("presence_penalty", "inf", "--presence-penalty: must be a finite number"),
    ("presence_penalty", "lots", "--presence-penalty: must be a number"),
])
def test_bad_sampling_values_are_refused_naming_the_flag(name, value, fragment):
    from mlxclin.evaluation.spec import EvalSpec

    with pytest.raises(MlxclinError, match=fragment.replace("(", r"\(")):
        EvalSpec.from_sources(task="eurorad", **{name: value})
    spec = EvalSpec.from_sources(task="eurorad", top_k="20", min_p="0", presence_penalty="-0.5")
    assert (spec.top_k, spec.min_p, spec.presence_penalty) == (20, 0.0, -0.5)


@pytest.mark.parametrize("family, expected", [
    ("qwen3_5", {"temperature": 1.0, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "presence_penalty": 1.5}),
    ("gemma4", {"temperature": 1.0, "top_p": 0.95, "top_k": 64, "min_p": 0.0, "presence_penalty": 0.0}),
])
def test_family_defaults_come_from_generation_config_then_the_model_card(family, expected, family_toy,
                                                                         tiny_eurorad_csv):
    values, sources = _sampling(_config(tiny_eurorad_csv, model=str(family_toy(family))))
    assert values == expected
    assert [sources[k] for k in ("temperature", "top_p", "top_k")] == [GENERATED] * 3   # the toy ships them
    if family == "qwen3_5":   # generation_config.json has no presence penalty: the card's 1.5
        assert sources["presence_penalty"] == QWEN_CARD and sources["min_p"] == QWEN_CARD
    else:
        assert sources["presence_penalty"] == "off: the Gemma 4 model card does not set it"


def test_without_generation_config_the_card_values_apply_and_bad_ones_name_the_file(family_toy, tmp_path):
    from mlxclin.evaluation.spec import sampling_settings

    model = tmp_path / "qwen"
    shutil.copytree(family_toy("qwen3_5"), model)
    generation = model / "generation_config.json"
    card = json.loads(generation.read_text())
    generation.unlink()
    values, sources = sampling_settings({}, model)
    assert (values["top_k"], values["top_p"], sources["top_k"]) == (20, 0.95, QWEN_CARD)
    generation.write_text(json.dumps({**card, "top_k": 40, "temperature": 0.6}))
    values, sources = sampling_settings({"temperature": (0.3, "--temperature")}, model)
    assert (values["top_k"], sources["top_k"], values["temperature"], sources["temperature"]) == \
        (40, GENERATED, 0.3, "--temperature")   # the checkpoint's value, unless a flag says otherwise
    generation.write_text(json.dumps({**card, "top_k": -3}))
    with pytest.raises(MlxclinError, match=r"generation_config.json: key 'top_k': must be at least 0 \(got -3\)"):
        sampling_settings({}, model)


def test_flags_and_config_keys_override_one_value_each(family_toy, tiny_eurorad_csv, tmp_path):
    from mlxclin.evaluation.run import all_requests
    from mlxclin.evaluation.setup import load_inputs
    from mlxclin.evaluation.spec import EvalSpec

    toml = tmp_path / "eval.toml"
    toml.write_text('top-p = 0.8\npresence-penalty = 0.5\n', encoding="utf-8")
    spec = EvalSpec.from_sources(toml, task="eurorad", data=str(tiny_eurorad_csv), model=str(family_toy("qwen3_5")),
                                 top_k=5, limit=2, runs=1)
    inputs = load_inputs(spec)
    from mlxclin.evaluation.setup import run_config

    config = run_config(spec, inputs)
    values, sources = _sampling(config)
    assert values == {"temperature": 1.0, "top_p": 0.8, "top_k": 5, "min_p": 0.0, "presence_penalty": 0.5}
    assert sources["top_k"] == "--top-k" and sources["top_p"] == f"--config {toml}: key 'top-p'"
    assert sources["temperature"] == GENERATED and sources["min_p"] == QWEN_CARD
    # the requests carry exactly what config.json records
    for r in all_requests(spec, inputs, config):
        assert (r.temperature, r.top_p, r.top_k, r.min_p, r.presence_penalty) == (1.0, 0.8, 5, 0.0, 0.5)


def test_gpt_oss_keeps_its_sampling(toy_hf_dir, tiny_eurorad_csv):
    values, sources = _sampling(_config(tiny_eurorad_csv, model=str(toy_hf_dir)))
    assert values == {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "presence_penalty": 0.0}
    assert set(sources.values()) == {"gpt-oss's recommended sampling (mlxclin's default)"}


def test_a_run_written_before_top_k_resumes_and_a_changed_sampling_is_refused(tmp_path):
    from mlxclin.evaluation.run import IDENTITY
    from mlxclin.evaluation.rundir import RunDir

    run = RunDir(tmp_path / "run")
    old = {"task": "eurorad", "temperature": 1.0, "top_p": 1.0}    # an older mlxclin wrote no top_k, min_p, ...
    assert run.prepare(old, IDENTITY, overwrite=False) is False
    (tmp_path / "run" / "samples.jsonl").write_text("")
    new = {**old, "top_k": 0, "min_p": 0.0, "presence_penalty": 0.0, "sampling_sources": {}}
    assert run.prepare(new, IDENTITY, overwrite=False) is True     # same sampling: resumed
    with pytest.raises(MlxclinError, match=r"different settings \(presence_penalty: 0.0 -> 1.5\)"):
        run.prepare({**new, "presence_penalty": 1.5}, IDENTITY, overwrite=False)


def test_eval_records_family_sampling_and_refuses_a_resume_that_changes_it(family_toy, tiny_eurorad_csv, tmp_path,
                                                                           run_mlxclin):
    out = tmp_path / "run"
    args = ["eval", "--task", "eurorad", "--model", family_toy("qwen3_5"), "--data", tiny_eurorad_csv, "--limit", 2,
            "--runs", 1, "--max-tokens", 3, "--out", out, "--quiet"]
    result = run_mlxclin(*args, "--min-p", "0.02")
    assert result.exit_code == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    values, sources = _sampling(config)
    assert values == {"temperature": 1.0, "top_p": 0.95, "top_k": 20, "min_p": 0.02, "presence_penalty": 1.5}
    assert sources["min_p"] == "--min-p" and sources["presence_penalty"] == QWEN_CARD
    assert f"presence_penalty 1.5 · {GENERATED}: temperature, top_p, top_k" in result.stdout
    refused = run_mlxclin(*args, "--min-p", "0.02", "--presence-penalty", "0")
    assert_one_line_error(refused, "different settings (presence_penalty: 1.5 -> 0.0)")


def test_beam_search_and_replay_refuse_sampling_settings(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin):
    beam = run_mlxclin("eval", "--task", "eurorad", "--model", toy_mlx_dir, "--data", tiny_eurorad_csv,
                       "--decoding", "beam", "--temperature", "0.7", "--out", tmp_path / "beam")
    assert_one_line_error(beam, "--temperature: not applied, --decoding beam is greedy")
    replay = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--replay-columns", "m-1",
                         "--data", tiny_eurorad_csv, "--top-k", "5", "--out", tmp_path / "replay")
    assert_one_line_error(replay, "--top-k: not applied, --backend replay")
    config = _config(tiny_eurorad_csv, model=str(toy_mlx_dir), decoding="beam")
    assert config["temperature"] is None and config["sampling_sources"]["top_k"].startswith("not applied")


# --- the OpenAI backend ----------------------------------------------------------------------------------------------

def test_api_sampling_sends_standard_fields_extra_fields_or_refuses():
    from mlxclin.backends.openai_backend import NOT_SENT, SENT, SENT_EXTRA, api_sampling

    card = {"temperature": 1.0, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "presence_penalty": 1.5}
    local = api_sampling("chat", "http://127.0.0.1:8080/v1", card)
    assert local == {"temperature": SENT, "top_p": SENT, "top_k": SENT_EXTRA, "min_p": SENT_EXTRA,
                     "presence_penalty": SENT}   # a local server gets every value, even the ones that are off
    cloud = api_sampling("chat", "https://openrouter.ai/api/v1", card)
    assert cloud == {"temperature": NOT_SENT, "top_p": SENT, "top_k": SENT_EXTRA, "min_p": NOT_SENT,
                     "presence_penalty": SENT}
    with pytest.raises(MlxclinError, match="--top-k: OpenAI's API has no top_k parameter"):
        api_sampling("chat", "https://api.openai.com/v1", card, {"top_k": "--top-k"})
    with pytest.raises(MlxclinError, match="the Responses API has no presence_penalty parameter"):
        api_sampling("responses", "https://api.openai.com/v1", {**card, "top_k": 0})
    off = {**card, "top_k": 0, "presence_penalty": 0.0}
    assert set(api_sampling("responses", "https://api.openai.com/v1", off).values()) == {SENT, NOT_SENT}


def test_openai_eval_refuses_top_k_before_sending_anything(tiny_eurorad_csv, tmp_path, run_mlxclin):
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "openai", "--model", "gpt-5", "--data",
                         tiny_eurorad_csv, "--top-k", "20", "--out", tmp_path / "run")
    assert_one_line_error(result, "--top-k: the Responses API has no top_k parameter")


def test_generate_prints_the_sampling_it_used(family_toy, run_mlxclin):
    result = run_mlxclin("generate", "--model", family_toy("gemma4"), "-p", "hi", "--max-tokens", 2, "--no-stream",
                         "--top-k", "8")
    assert result.exit_code == 0, result.stderr
    assert ("sampling: temperature 1, top_p 0.95, top_k 8, min_p 0, presence_penalty 0 · "
            f"{GENERATED}: temperature, top_p; --top-k: top_k") in result.stdout
