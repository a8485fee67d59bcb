"""Data files the scorer cannot trust are refused in one line naming file and line, or their left-out rows are
counted (issue 11: nothing silently wrong)."""

import pytest

from conftest import EURORAD_HEADER
from mlxclin.errors import MlxclinError
from mlxclin.tasks import get_task
from support import CLINICAL_DATA_DIR, assert_one_line_error

ROW_A = ["101.0", "Chest imaging", "History: cough.\nFindings: mass.", "Lung cancer, Pneumonia", "Lung cancer",
         "NO", "Lung cancer", "Pneumonia", "Lung cancer"]
ROW_B = ["102.0", "Neuroradiology", "History: seizures.\nFindings: calcification.", "Glioma, Meningioma", "Glioma",
         "NO", "Glioma", "Glioma", "Glioma"]


def test_a_stray_unclosed_quote_is_an_error_naming_file_and_line(tmp_path, write_csv, run_mlxclin):
    good = write_csv(tmp_path / "good.csv", EURORAD_HEADER, [ROW_A, ROW_B, ROW_A[:0] + ["103.0"] + ROW_B[1:]])
    text = good.read_text(encoding="utf-8")
    # One quote typed at the start of a field of the second data row (line 4): csv would read on to the next
    # quote, merging rows, and score a different number of items.
    broken = text.replace("Neuroradiology", '"Neuroradiology', 1)
    path = tmp_path / "eurorad_test.csv"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(MlxclinError, match=r"eurorad_test.csv line \d+ .*stray or unclosed quote"):
        get_task("eurorad").load_items(path)
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "replay", "--data", path,
                         "--replay-columns", "m-1,m-2,m-3", "--out", tmp_path / "run")
    assert_one_line_error(result, "eurorad_test.csv line", "quote")
    assert result.exit_code == 2


@pytest.mark.skipif(not (CLINICAL_DATA_DIR / "eurorad_test.csv").is_file(), reason="shared clinical data absent")
def test_a_stray_quote_in_the_released_eurorad_file_is_refused(tmp_path):
    text = (CLINICAL_DATA_DIR / "eurorad_test.csv").read_text(encoding="utf-8-sig")
    start = text.index("\n", len(text) // 3) + 1         # a row start in the middle of the file
    comma = text.index(",", start) + 1
    path = tmp_path / "eurorad_test.csv"
    path.write_text(text[:comma] + '"' + text[comma:], encoding="utf-8")
    with pytest.raises(MlxclinError, match=r"eurorad_test.csv line \d+ is not valid CSV"):
        get_task("eurorad").load_items(path)


def test_an_empty_differential_list_is_an_error_naming_the_line(tmp_path, write_csv):
    empty = ["102.0", "Neuroradiology", "History: x.", "  ", "Glioma", "NO", "Glioma", "", ""]
    path = write_csv(tmp_path / "e.csv", EURORAD_HEADER, [ROW_A, empty])
    with pytest.raises(MlxclinError, match=r"e.csv line 4 \(case 102\): empty DifferentialDiagnosisList"):
        get_task("eurorad").load_items(path)


def test_a_row_without_gold_is_dropped_with_a_printed_count(tmp_path, write_csv, capsys):
    no_gold = ["102.0", "Neuroradiology", "History: x.", "Glioma, Meningioma", " ", "NO", "Glioma", "", ""]
    path = write_csv(tmp_path / "e.csv", EURORAD_HEADER, [ROW_A, no_gold, ROW_B[:0] + ["103.0"] + ROW_B[1:]])
    items = get_task("eurorad").load_items(path)
    assert [i.id for i in items] == ["101", "103"]
    assert items.dropped == [{"file": str(path), "line": 4, "reason": "no FinalDiagnosis (gold answer): cannot be "
                                                                        "scored"}]
    assert items.dropped_counts() == {"no FinalDiagnosis (gold answer): cannot be scored": 1}
    err = capsys.readouterr().err
    assert "e.csv: dropped 1 row(s): no FinalDiagnosis (gold answer): cannot be scored (line 4)" in err


@pytest.mark.skipif(not (CLINICAL_DATA_DIR / "ophthalmology.csv").is_file(), reason="shared clinical data absent")
def test_released_files_load_whole_with_their_debris_counted():
    counts = {}
    for task, name, subset in (("eurorad", "eurorad_test.csv", ""), ("ophtho", "ophthalmology.csv", ""),
                               ("judge", "judge_diagnosis.csv", "diagnosis"),
                               ("judge", "judge_treatment.csv", "treatment")):
        items = get_task(task).load_items(CLINICAL_DATA_DIR / name, subset)
        counts[name] = (len(items), sum(items.dropped_counts().values()))
    assert counts["eurorad_test.csv"] == (207, 0)
    assert counts["ophthalmology.csv"][0] == 130 and counts["ophthalmology.csv"][1] > 0
    assert counts["judge_diagnosis.csv"][0] == 720 and counts["judge_treatment.csv"][0] == 595
