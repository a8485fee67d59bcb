"""The fine-tuning guide's commands (docs/finetune.md), run as written on the toy model (issue 11: the first hour works as written).

Network access is replaced by the pinned local copies: the mlxclin cache is pre-filled from ../shared with the
released training file and test set (their sha256 must match the pins, as after a real download) and downloads are
switched off, so the commands find their data exactly where a fresh install would have fetched it.
"""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from mlxclin.data import SOURCES, sha256_of
from support import CLINICAL_DATA_DIR

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "finetune.md"


def readme_commands(section: str) -> list:
    """Each `mlxclin ...` command (argument lists) of the first bash block under `## <section>` of docs/finetune.md."""
    text = GUIDE.read_text(encoding="utf-8")
    body = text[text.index(f"## {section}\n"):]
    block = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    commands = []
    for line in block.splitlines():
        for part in line.split("&&"):
            args = shlex.split(part, comments=True)
            if args:
                assert args[0] == "mlxclin", part
                commands.append(args[1:])
    return commands


@pytest.fixture
def pinned_cache(tmp_path, monkeypatch):
    if not (CLINICAL_DATA_DIR / "eurorad_train_messages.jsonl").is_file():
        pytest.skip(f"shared clinical data not found at {CLINICAL_DATA_DIR}")
    cache = tmp_path / "cache"
    for name in ("eurorad_train_messages.jsonl", "eurorad_test.csv"):
        source = SOURCES[name]
        target = cache / "data" / source.commit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CLINICAL_DATA_DIR / name, target)
        assert sha256_of(target) == source.sha256      # the shared copy is the pinned release
    monkeypatch.setenv("MLXCLIN_CACHE", str(cache))
    monkeypatch.setenv("MLXCLIN_OFFLINE", "1")
    return cache


@pytest.mark.slow
def test_readme_finetuning_commands_run_as_written(pinned_cache, tmp_path, monkeypatch, run_mlxclin):
    commands = readme_commands("Fine-tuning")
    assert [c[0] for c in commands] == ["toy-model", "convert", "finetune", "finetune", "finetune"]
    monkeypatch.chdir(tmp_path)
    for args in commands:
        result = run_mlxclin(*args)
        assert result.exit_code == 0, (args, result.stderr[-2000:])
    prepared = json.loads(Path("ft-data/prepare.json").read_text())
    assert prepared["counts"]["train"] + prepared["counts"]["valid"] == 40 and prepared["leakage"] is not None
    assert prepared["data"].endswith("a6ad8f8/eurorad_train_messages.jsonl")
    assert Path("ft-adapters/adapters.safetensors").is_file()
    metrics = json.loads(Path("ft-adapters/eval-eurorad/metrics.json").read_text())
    assert metrics["n_items"] == 2
    samples = [json.loads(x) for x in Path("ft-adapters/eval-eurorad/samples.jsonl").read_text().splitlines()]
    assert samples and all(s["completion_tokens"] <= 16 for s in samples)    # --eval-max-tokens reached eval
    assert Path("ft-fused/config.json").is_file()


def test_prepare_without_the_test_set_names_the_right_flag(eval_offline_cache, toy_mlx_dir, tmp_path, run_mlxclin):
    from conftest import finetune_message_row

    train = tmp_path / "alone" / "train.jsonl"       # no eurorad_test.csv beside it, nothing cached, offline
    train.parent.mkdir()
    train.write_text(json.dumps(finetune_message_row("Case: cough.", ["Pneumonia", "Asthma"], "Asthma")) + "\n")
    result = run_mlxclin("finetune", "prepare", "--data", train, "--model", toy_mlx_dir, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "--test-data PATH" in result.stderr and "--skip-leakage" in result.stderr
    assert "--data PATH" not in result.stderr.replace("--test-data PATH", "")


def test_prepare_finds_the_test_set_beside_the_training_file(eval_offline_cache, toy_mlx_dir, tmp_path, run_mlxclin,
                                                             tiny_eurorad_csv):
    from conftest import finetune_message_row

    folder = tmp_path / "released"
    folder.mkdir()
    shutil.copyfile(tiny_eurorad_csv, folder / "eurorad_test.csv")
    (folder / "eurorad_train_messages.jsonl").write_text("".join(
        json.dumps(finetune_message_row(f"Case {i}: cough.", ["Pneumonia", "Asthma"], "Asthma")) + "\n"
        for i in range(4)))
    result = run_mlxclin("finetune", "prepare", "--data", folder, "--model", toy_mlx_dir, "--out", tmp_path / "o",
                         "--effort", "low")
    assert result.exit_code == 0, result.stderr
    assert f"leakage check against {folder / 'eurorad_test.csv'} (found beside the training file)" in result.stdout
