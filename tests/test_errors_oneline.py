"""One error style everywhere (issue 11): usage errors, damaged model / adapter folders, damaged run files all end
as one `mlxclin: error:` line naming the file or key, exit 2, never a bare JSONDecodeError/TypeError."""

import json
import shutil

import pytest

from support import assert_one_line_error


@pytest.mark.parametrize("args, fragment", [
    (["generate", "--model", "m", "-p", "hi", "--max-tokens", "x"], "Invalid value for '--max-tokens'"),
    (["generate", "--model", "m", "-p", "hi", "--effort", "huge"], "'huge' is not one of"),
    (["generate", "--prompt", "hi"], "Missing option '--model'"),
    (["eval", "--no-such-flag"], "No such option"),
])
def test_click_usage_errors_are_one_line(run_mlxclin, args, fragment):
    result = run_mlxclin(*args)
    line = assert_one_line_error(result, fragment)
    assert result.exit_code == 2 and "--help" in line and "Usage:" not in result.stderr


def test_generate_missing_model_is_a_friendly_line_with_exit_2(run_mlxclin, tmp_path):
    result = run_mlxclin("generate", "--model", tmp_path / "missing", "-p", "hi")
    assert_one_line_error(result, "model folder not found", "missing", "mlxclin convert")
    assert result.exit_code == 2


@pytest.fixture
def model_copy(toy_mlx_dir, tmp_path):
    """A throwaway copy of the converted toy to damage (weights linked, not copied)."""
    out = tmp_path / "model"
    out.mkdir()
    for f in toy_mlx_dir.iterdir():
        (out / f.name).symlink_to(f) if f.suffix == ".safetensors" else shutil.copyfile(f, out / f.name)
    return out


@pytest.mark.parametrize("damage, fragments", [
    (lambda m: (m / "config.json").write_text('{"model_type": "gpt_oss", '), ["config.json", "not valid JSON"]),
    (lambda m: (m / "config.json").write_text("[1, 2]"), ["config.json", "should hold a JSON object"]),
    (lambda m: (m / "config.json").write_text('{"model_type": 7}'), ["config.json", "'model_type'"]),
    (lambda m: (m / "tokenizer.json").unlink(), ["has no tokenizer (tokenizer.json)", "mlxclin convert"]),
    (lambda m: (m / "tokenizer.json").write_text("{torn"), ["tokenizer.json", "not valid JSON"]),
])
def test_a_damaged_model_folder_is_one_line_naming_the_file(run_mlxclin, model_copy, damage, fragments):
    damage(model_copy)
    result = run_mlxclin("generate", "--model", model_copy, "-p", "hi", "--max-tokens", 2)
    line = assert_one_line_error(result, *fragments)
    assert result.exit_code == 2 and "sentencepiece" not in line and "Error:" not in line.split("error:", 1)[1]


def _adapter_dir(tmp_path, config) -> str:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    (folder / "adapters.safetensors").write_bytes(b"")
    return folder


GOOD_ADAPTER = {"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": {"rank": 4, "scale": 2.0}}


@pytest.mark.parametrize("config, fragments", [
    ('{"fine_tune_type": "lora", "num_la', ["adapter_config.json", "not valid JSON"]),
    ({**GOOD_ADAPTER, "num_layers": "two"}, ["adapter_config.json", "'num_layers'"]),
    ({**GOOD_ADAPTER, "lora_parameters": [4]}, ["adapter_config.json", "'lora_parameters'"]),
    ({**GOOD_ADAPTER, "lora_parameters": {"rank": 4}}, ["adapter_config.json", "'lora_parameters.scale'"]),
])
def test_a_corrupt_adapter_config_is_one_line_naming_the_key(run_mlxclin, toy_mlx_dir, tmp_path, config,
                                                             fragments):
    result = run_mlxclin("generate", "--model", toy_mlx_dir, "--adapter-path", _adapter_dir(tmp_path, config),
                         "-p", "hi", "--max-tokens", 2)
    assert_one_line_error(result, *fragments)
    assert result.exit_code == 2


def test_torn_last_training_log_line_is_dropped_with_a_note_and_a_torn_middle_is_an_error(tmp_path):
    from mlxclin.errors import MlxclinError
    from mlxclin.finetune.train import _truncate_log

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"ste')
    notes = []
    _truncate_log(log, 2, notes.append)
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    assert len(notes) == 1 and "train_log.jsonl line 4 is torn" in notes[0]
    log.write_text('{"step": 1}\n{"ste\n{"step": 2}\n')
    with pytest.raises(MlxclinError, match=r"train_log.jsonl line 2 is not a JSON object"):
        _truncate_log(log, 2, notes.append)


@pytest.mark.parametrize("metrics, fragment", [
    ('{"task": "eurorad", "model": "m", "accuracy": ', "not valid JSON"),
    ({"task": "eurorad", "model": "m", "accuracy": "high"}, "key 'accuracy' should be an object"),
    ({"task": "eurorad", "model": "m", "accuracy": {"pct": "89%", "n": 3}}, "key 'accuracy.pct' should be a number"),
    ({"task": "eurorad", "model": "m", "accuracy": {"pct": 50.0, "n": 2}, "groups": [1]}, "key 'groups'"),
    ({"task": "judge", "model": "m", "subsets": {"diagnosis": 3}}, "key 'subsets'"),
    ({"task": "judge", "model": "m", "subsets": {"diagnosis": {"n": 2, "mae": "low"}}}, "'subsets.diagnosis.mae'"),
    ({"task": "eurorad", "model": "m", "by_effort": [1]}, "key 'by_effort'"),
])
def test_a_malformed_metrics_json_is_one_line_naming_the_key(run_mlxclin, tmp_path, metrics, fragment):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    result = run_mlxclin("report", run, "--out", tmp_path / "report", "--baselines", "none")
    assert_one_line_error(result, "metrics.json", fragment)
    assert result.exit_code == 2
