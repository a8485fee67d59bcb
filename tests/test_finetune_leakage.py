"""Leakage check: near duplicates by word-level rapidfuzz similarity, normalized gold overlap, the printed table."""

import re

import pytest

from mlxclin.finetune.cases import TrainCase, load_cases
from mlxclin.finetune.leakage import NEAR_DUPLICATE_THRESHOLD, check_leakage, format_report
from mlxclin.tasks.base import Item

CASE = ("A 62-year-old man presented with progressive dyspnoea and weight loss over three months. He had worked in "
        "a shipyard for twenty years. Imaging Findings: Chest CT shows bilateral calcified pleural plaques, a "
        "right-sided pleural effusion and nodular pleural thickening extending into the fissures, with "
        "mediastinal pleural involvement and volume loss of the right hemithorax.")


def train_case(text, gold, source=0):
    return TrainCase(key=str(source), case=text, options=[gold], gold=gold, source=source)


def test_edited_copy_is_a_near_duplicate_and_an_unrelated_case_is_not():
    edited = (CASE.replace("62-year-old", "64-year-old").replace("three months", "four months")
              .replace("twenty years", "two decades"))
    unrelated = ("A 7-year-old girl with limping. Imaging Findings: Radiographs show a lytic lesion of the "
                 "proximal femur with a narrow zone of transition and a fallen fragment sign.")
    test = [Item("t1", {"case": "Clinical History: " + CASE, "gold": "Malignant pleural mesothelioma"}),
            Item("t2", {"case": unrelated.upper(), "gold": "Simple bone cyst"})]
    train = [train_case(edited, "Malignant pleural mesothelioma", 0),
             train_case("A 30-year-old woman with headache. Imaging Findings: ring-enhancing lesion.",
                        "Simple Bone Cyst.", 1)]
    report = check_leakage(train, test)
    assert [(i, t) for i, t, _ in report.pairs] == [(0, "t1")]
    assert report.pairs[0][2] >= 90 > NEAR_DUPLICATE_THRESHOLD
    # gold overlap is by normalized text: "Simple Bone Cyst." counts for t2, case text aside
    assert report.gold_overlap == ["t1", "t2"]
    table = format_report(report, train)
    assert "near-duplicate pairs" in table and "training row 1 ~ test case t1" in table
    assert "test cases whose gold is a training gold" in table


@pytest.mark.data
def test_leakage_on_the_released_files_prints_the_table(run_mlxclin, clinical_data_dir, tmp_path):
    train = clinical_data_dir / "eurorad_train_messages.jsonl"
    if not train.is_file():
        pytest.skip(f"{train} not found")
    result = run_mlxclin("finetune", "leakage", "--data", train, "--test-data", clinical_data_dir / "eurorad_test.csv",
                         "--json", tmp_path / "leakage.json")
    assert result.exit_code == 0, result.stderr
    assert "leakage check: 1895 training cases vs 207 test cases" in result.stdout
    for row in ("near-duplicate pairs", "training cases with a near duplicate in test",
                "test cases whose gold is a training gold", "highest similarity"):
        assert row in result.stdout
    import json
    report = json.loads((tmp_path / "leakage.json").read_text())
    # the test set is 2025 cases, the training set pre-2025: no near duplicates
    assert report["n_train"] == 1895 and report["near_duplicate_pairs"] == []
    assert report["max_similarity"] < NEAR_DUPLICATE_THRESHOLD
    assert 0 <= report["test_cases_with_gold_seen_in_training"] < 207


def test_leakage_cli_bad_input(run_mlxclin, tmp_path, tiny_eurorad_csv):
    result = run_mlxclin("finetune", "leakage", "--data", tmp_path / "missing.jsonl", "--test-data", tiny_eurorad_csv)
    assert result.exit_code == 2 and "not found" in result.stderr
    cases = load_cases(tiny_eurorad_csv)
    result = run_mlxclin("finetune", "leakage", "--data", tiny_eurorad_csv, "--test-data", tiny_eurorad_csv)
    assert result.exit_code == 0
    # the same file on both sides: every case is its own near duplicate
    assert re.search(rf"training cases with a near duplicate in test\s+{len(cases)}\s+100\.0%", result.stdout)
