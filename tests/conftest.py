"""Shared test fixtures. Each block says which tests it serves; append new blocks rather than editing these."""

from dataclasses import dataclass
from pathlib import Path

import pytest

# --- clinical tasks / eval (tests/test_tasks_*.py, test_eval_*.py, test_data.py) ----------------------------------

from support import CLINICAL_DATA_DIR, write_csv as _write_csv


@pytest.fixture
def clinical_data_dir() -> Path:
    """The shared clinical data folder; tests using it skip cleanly where it is absent."""
    if not (CLINICAL_DATA_DIR / "eurorad_test.csv").is_file():
        pytest.skip(f"shared clinical data not found at {CLINICAL_DATA_DIR}")
    return CLINICAL_DATA_DIR


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_mlxclin(capsys):
    """Call the CLI in-process like the console script does: run_mlxclin("eval", "--task", ...) -> CliResult."""
    from mlxclin.cli import main

    def run(*args) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    return run


@pytest.fixture
def eval_offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty mlxclin cache with downloads disabled: fetch-by-name must fail fast, never touch the network."""
    cache = tmp_path / "mlxclin-cache"
    monkeypatch.setenv("MLXCLIN_CACHE", str(cache))
    monkeypatch.setenv("MLXCLIN_OFFLINE", "1")
    return cache


@pytest.fixture
def write_csv():
    """write_csv(path, header, rows) -> path: a UTF-8 CSV for task tests."""
    return _write_csv


EURORAD_HEADER = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis",
                  "DiseaseLeak", "m-1", "m-2", "m-3"]


@pytest.fixture
def tiny_eurorad_csv(tmp_path) -> Path:
    """Four Eurorad-like cases with stored answers of one model in columns m-1..m-3.

    Scored as stored: 101 right 3/3 (exact, normalized x2); 102 right 2/3 (comma-bearing gold, one mojibake
    answer); 103 wrong 1/3 (one empty answer); 104 (section merged into Others) wrong 1/3 because run 1 says
    "Pseudoaneurysms", a fuzzy match of the gold that only --map-options turns into a correct answer.
    """
    rows = [
        ["101.0", "Chest imaging", "History: cough. Findings: mass.", "Lung cancer, Pneumonia, Lymphoma",
         "Lung cancer", "NO", "Lung cancer", "lung cancer", "Lung  Cancer."],
        ["102.0", "Neuroradiology", "History: seizures.", "Meningioma, Sturge–Weber syndrome, type 1, Glioma",
         "Sturge–Weber syndrome, type 1", "NO", "Sturgeâ€“Weber syndrome, type 1", "Glioma",
         "Sturge-Weber syndrome, type 1"],
        ["103.0", "Abdominal imaging", "History: pain.", "Appendicitis, Diverticulitis",
         "Appendicitis", "NO", "", "Diverticulitis", "Appendicitis"],
        ["104.0", "Interventional radiology", "History: bleeding.", "Pseudoaneurysm, Haematoma",
         "Pseudoaneurysm", "NO", "Pseudoaneurysm", "Pseudoaneurysms", "Haematoma"],
    ]
    return _write_csv(tmp_path / "eurorad_tiny.csv", EURORAD_HEADER, rows)


# --- toy gpt-oss checkpoints (model, convert, backend, eval, finetune tests) ---------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _offline_harmony_vocab(tmp_path_factory):
    """Every test runs offline: openai-harmony reads o200k from our materialized copy, never the network."""
    import os

    from mlxclin.vocab import vocab_dir

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(vocab_dir())


@pytest.fixture(scope="session")
def toy_hf_dir(tmp_path_factory) -> Path:
    """The default toy gpt-oss checkpoint in Hugging Face layout (MXFP4 experts, 2 shards, real tokenizer)."""
    from mlxclin.models.toy import write_toy_checkpoint

    return write_toy_checkpoint(tmp_path_factory.mktemp("toy") / "hf")


@pytest.fixture(scope="session")
def toy_mlx_dir(toy_hf_dir, tmp_path_factory) -> Path:
    """toy_hf_dir converted with the default recipe (mxfp4): the model most tests run."""
    from mlxclin.models.convert import convert

    return convert(str(toy_hf_dir), tmp_path_factory.mktemp("toy-mlx") / "mxfp4", recipe="mxfp4").path


# --- fine-tuning (tests/test_finetune*.py, tests/test_traces.py) ---------------------------------------------------

FINETUNE_SYSTEM = "You are a careful radiology diagnosis selector."


def finetune_message_row(case: str, options: list, gold: str) -> dict:
    """One line of the released eurorad_train_messages.jsonl format."""
    user = (case + "\n\nCandidate diagnoses (choose ONE):\n" + "\n".join(f"- {o}" for o in options)
            + "\n\nReturn exactly one option from the list above, copied verbatim.")
    return {"messages": [{"role": "system", "content": FINETUNE_SYSTEM, "thinking": None},
                         {"role": "user", "content": user, "thinking": None},
                         {"role": "assistant", "content": gold, "thinking": None}]}


@pytest.fixture
def finetune_jsonl(tmp_path) -> Path:
    """Twelve training cases in the released messages format; case i has gold option i % 3."""
    import json

    options = ["Pulmonary embolism", "Pneumonia", "Lung abscess"]
    path = tmp_path / "train_messages.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(12):
            case = f"Patient {i} with chest pain. Imaging Findings: finding number {i}."
            f.write(json.dumps(finetune_message_row(case, options, options[i % 3])) + "\n")
    return path


@pytest.fixture
def short_prompt_file(tmp_path) -> Path:
    """A compact prompt template (few tokens per example) so toy training steps stay cheap on a CPU."""
    path = tmp_path / "short_prompt.txt"
    path.write_text("### user\nOptions:\n{options}\nCase: {case}\n", encoding="utf-8")
    return path


# --- Qwen3.5 / Gemma 4 toy checkpoints (tests/test_families*.py) ----------------------------------------------------


@pytest.fixture(scope="session")
def family_toy(tmp_path_factory):
    """family_toy("qwen3_5" | "qwen3_5_moe" | "gemma4") -> the toy checkpoint in HF layout, written once per session."""
    from mlxclin.models.family_toy import FamilyToyConfig, write_family_toy

    made = {}

    def get(family: str) -> Path:
        if family not in made:
            made[family] = write_family_toy(tmp_path_factory.mktemp(f"toy-{family}") / "hf", FamilyToyConfig(family))
        return made[family]
    return get


# --- test tiers (README: `pytest -q` is the fast tier, `pytest -q --full` the full tier CI runs) ---------------------

def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="the full tier: also run the tests marked slow (what CI runs)")


def pytest_collection_modifyitems(config, items):
    """The fast tier deselects the tests marked slow (counted as 'deselected' in pytest's summary line)."""
    if config.getoption("--full"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
