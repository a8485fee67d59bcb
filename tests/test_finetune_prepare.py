"""finetune prepare: cases from both input formats, Harmony rendering with the Eurorad prompt, the trained-token
mask, the seeded split, traces in the analysis channel, and one-line errors for bad input."""

import json

import pytest

from mlxclin.errors import MlxclinError
from mlxclin.finetune.cases import case_key, load_cases, split_case_message
from mlxclin.finetune.prepare import load_traces, prepare, split_indices
from mlxclin.harmony import render_prompt, render_training_example
from mlxclin.vocab import harmony_encoding


def decode(ids):
    return harmony_encoding().decode(ids)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_split_case_message_takes_the_last_option_list():
    text = ("History: - not an option here\nImaging Findings: mass.\n\nCandidate diagnoses (choose ONE):\n"
            "- A, with comma\n- B\n\nReturn exactly one option.")
    case, options = split_case_message(text)
    assert case == "History: - not an option here\nImaging Findings: mass."
    assert options == ["A, with comma", "B"]


def test_load_cases_from_messages_and_csv(finetune_jsonl, tiny_eurorad_csv):
    cases = load_cases(finetune_jsonl)
    assert len(cases) == 12
    assert cases[4].options == ["Pulmonary embolism", "Pneumonia", "Lung abscess"]
    assert cases[4].gold == "Pneumonia" and cases[4].case.startswith("Patient 4 with chest pain.")
    assert cases[4].key == case_key(cases[4].case, "Pneumonia")
    from_csv = load_cases(tiny_eurorad_csv, limit=2)
    assert [c.gold for c in from_csv] == ["Lung cancer", "Sturge–Weber syndrome, type 1"]
    assert "Sturge–Weber syndrome, type 1" in from_csv[1].options   # the comma-bearing gold stays whole


def test_training_render_masks_everything_but_the_assistant_reply():
    messages = [{"role": "system", "content": "Pick one."}, {"role": "user", "content": "Case X"},
                {"role": "assistant", "content": "Pneumonia", "thinking": "Consolidation, fever."}]
    ids, mask = render_training_example(messages, "high")
    prompt = render_prompt(messages[:-1], "high")
    assert ids[:len(prompt)] == prompt and not any(mask[:len(prompt)]) and all(mask[len(prompt):])
    trained = decode([i for i, m in zip(ids, mask) if m])
    # the analysis message survives (openai-harmony drops it by default) and the answer ends with <|return|>
    assert trained == ("<|channel|>analysis<|message|>Consolidation, fever.<|end|><|start|>assistant"
                       "<|channel|>final<|message|>Pneumonia<|return|>")
    assert "Reasoning: high" in decode(prompt)


def test_prepare_writes_rendered_examples_with_the_eurorad_prompt(finetune_jsonl, toy_mlx_dir, tmp_path):
    out = tmp_path / "data"
    r = prepare(finetune_jsonl, toy_mlx_dir, out, effort="low", valid_fraction=0.25, seed=3, leakage=False,
                max_seq_len=100, echo=lambda *_: None)
    train, valid = read_jsonl(out / "train.jsonl"), read_jsonl(out / "valid.jsonl")
    assert (len(train), len(valid)) == (9, 3) and r.counts == {"train": 9, "valid": 3}
    example = train[0]
    text = decode(example["ids"])
    assert "Reasoning: low" in text
    assert "meticulous radiologist" in text                 # the Eurorad task's system prompt, not the file's
    assert "careful radiology diagnosis selector" not in text
    assert "Candidate diagnoses (pick one):\n- Pulmonary embolism\n- Pneumonia\n- Lung abscess" in text
    trained = decode([i for i, m in zip(example["ids"], example["mask"]) if m])
    assert trained == f"<|channel|>final<|message|>{example['gold']}<|return|>"
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["effort"] == "low" and meta["counts"] == {"train": 9, "valid": 3}
    assert meta["lengths"]["min"] == min(len(e["ids"]) for e in train + valid)
    assert meta["over_max_seq_len"] == r.over_max_seq_len == sum(len(e["ids"]) > 100 for e in train + valid) > 0
    # the same seed gives the same split; another seed another one
    again = prepare(finetune_jsonl, toy_mlx_dir, tmp_path / "again", effort="low", valid_fraction=0.25, seed=3,
                    leakage=False, echo=lambda *_: None)
    assert read_jsonl(again.out / "valid.jsonl") == valid
    assert split_indices(12, 0.25, 4) != split_indices(12, 0.25, 3)


def test_traces_go_to_the_analysis_channel(finetune_jsonl, toy_mlx_dir, tmp_path):
    cases = load_cases(finetune_jsonl)
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"key": cases[0].key, "accepted": True, "reasoning": "Filling defect."}) + "\n"
                      + json.dumps({"key": cases[1].key, "accepted": False, "reasoning": "Wrong."}) + "\n")
    assert load_traces(traces) == {cases[0].key: "Filling defect."}
    r = prepare(finetune_jsonl, toy_mlx_dir, tmp_path / "data", effort="low", valid_fraction=0.0, leakage=False,
                traces=str(traces), echo=lambda *_: None)
    assert r.with_trace == 1
    rows = {e["key"]: e for e in read_jsonl(tmp_path / "data" / "train.jsonl")}
    with_trace = rows[cases[0].key]
    trained = decode([i for i, m in zip(with_trace["ids"], with_trace["mask"]) if m])
    assert trained.startswith("<|channel|>analysis<|message|>Filling defect.<|end|>") and with_trace["has_trace"]
    assert not rows[cases[1].key]["has_trace"]


def test_drop_leaks_removes_a_training_copy_of_a_test_case(finetune_jsonl, toy_mlx_dir, tmp_path, write_csv):
    cases = load_cases(finetune_jsonl)
    test_csv = write_csv(tmp_path / "test.csv",
                         ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis"],
                         [["1", "Chest imaging", "Clinical History: " + cases[5].case, "Pneumonia, Lung abscess",
                           "Lung abscess"]])
    lines = []
    r = prepare(finetune_jsonl, toy_mlx_dir, tmp_path / "data", valid_fraction=0.0, test_data=test_csv,
                drop_leaks=True, echo=lines.append)
    assert r.dropped_leaks >= 1 and r.counts["train"] == 12 - r.dropped_leaks
    kept = {e["key"] for e in read_jsonl(tmp_path / "data" / "train.jsonl")}
    assert cases[5].key not in kept
    assert "near-duplicate pairs" in lines[0] and r.leakage["test_cases_with_gold_seen_in_training"] == 1


def test_prepare_cli_and_bad_input(run_mlxclin, finetune_jsonl, toy_mlx_dir, tmp_path):
    result = run_mlxclin("finetune", "prepare", "--data", finetune_jsonl, "--model", toy_mlx_dir,
                         "--out", tmp_path / "data", "--skip-leakage", "--limit", "6", "--valid-fraction", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "prepared 3 train + 3 valid examples" in result.stdout and "tokens per example" in result.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "no list"},
                                            {"role": "assistant", "content": "X"}]}) + "\n")
    result = run_mlxclin("finetune", "prepare", "--data", bad, "--model", toy_mlx_dir, "--out", tmp_path / "x",
                         "--skip-leakage")
    assert result.exit_code == 2 and "row 1" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = run_mlxclin("finetune", "prepare", "--data", finetune_jsonl, "--model", tmp_path, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "not a model folder" in result.stderr


def test_valid_fraction_out_of_range():
    with pytest.raises(MlxclinError, match="valid-fraction"):
        split_indices(10, 1.0, 0)
