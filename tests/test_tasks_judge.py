import pytest

from mlxclin import stats
from mlxclin.backends.base import Completion
from mlxclin.errors import MlxclinError
from mlxclin.tasks import get_task

HEADER = ["Clinical specialty", "disease_GT", "Frequency", "Model", "Disease_description", "HumanEvalScore",
          "j1", "j2", "j3"]
DESCRIPTION = "Diagnosis Task: chest pain.\n \n  True Disease: {d}\n \n  Model Output:1. {d}"


@pytest.fixture
def tiny_judge_csv(tmp_path, write_csv):
    rows = [
        ["Internal Medicine", "Angina", "Frequent", "GPT-4", DESCRIPTION.format(d="Angina"), "4.5", "5", "4", "4.5"],
        ["Internal Medicine", "Gout", "frequent", "GPT-4", DESCRIPTION.format(d="Gout"), "3", "4", "Score: 4", "3.5"],
        ["Neurology", "ALS", "Rare", "GPT-4o", DESCRIPTION.format(d="ALS"), "5", "5", "n/a", "4"],
        ["Neurology", "MS", "Less Frequent", "GPT-4o", DESCRIPTION.format(d="MS"), "2.25", "", "", ""],
        ["Pediatrics", "Croup", "rare", "GPT-4o", DESCRIPTION.format(d="Croup"), "4", "3", "3", "3.5"],
        ["", "", "", "", "", "", "", "", ""],
        ["", "", "", "", "", "", "mean", "4.1", ""],          # trailing spreadsheet debris
    ]
    return write_csv(tmp_path / "judge_diagnosis.csv", HEADER, rows)


def test_items_skip_debris_and_normalize_frequency(tiny_judge_csv):
    items = get_task("judge").load_items(tiny_judge_csv, "diagnosis")
    assert len(items) == 5
    assert items[0].id == "diagnosis:1" and items[0].subset == "diagnosis"
    assert [i.fields["frequency"] for i in items] == ["frequent", "frequent", "rare", "less frequent", "rare"]
    assert items[3].fields["human_score"] == 2.25


@pytest.mark.parametrize("value", ["", "42", "0.5", "inf", "nan", "-inf", "four"])
def test_an_expert_score_off_the_1_to_5_scale_is_an_error_naming_file_and_line(tmp_path, write_csv, value):
    rows = [["Surgery", "x", "Rare", "m", "d", "3", "1", "2", "3"], ["Surgery", "x", "Rare", "m", "d", value, "1", "2", "3"]]
    path = write_csv(tmp_path / "j.csv", HEADER, rows)
    with pytest.raises(MlxclinError, match=f"j.csv line 3: HumanEvalScore '{value}' is not a number from 1 to 5"):
        get_task("judge").load_items(path, "diagnosis")


def test_debris_rows_without_specialty_are_counted_as_dropped(tiny_judge_csv, capsys):
    items = get_task("judge").load_items(tiny_judge_csv, "diagnosis")
    assert sum(items.dropped_counts().values()) >= 1
    assert all(d["reason"].startswith("no Clinical specialty") and d["line"] for d in items.dropped)
    assert f"dropped {len(items.dropped)} row(s): no Clinical specialty" in capsys.readouterr().err


@pytest.mark.parametrize("answer, score, match_type", [
    ("4.5", 4.5, "exact"), ("5", 5.0, "exact"), ("3.0", 3.0, "exact"),
    ("Score: 4", 4.0, "normalized"), ("I would rate this 2.5 out of 5.", 2.5, "normalized"),
    ("", None, "no_match"), ("n/a", None, "no_match"), ("4.25", None, "no_match"), ("7", None, "no_match"),
])
def test_parse_scores(tiny_judge_csv, answer, score, match_type):
    task = get_task("judge")
    item = task.load_items(tiny_judge_csv, "diagnosis")[0]
    parsed = task.parse(item, Completion(id="x", final=answer, format="api"))
    assert parsed == {"prediction": score, "match_type": match_type}
    assert task.score(item, parsed) == {"score": score}


def test_messages_carry_the_whole_description(tiny_judge_csv):
    task = get_task("judge")
    item = task.load_items(tiny_judge_csv, "diagnosis")[0]
    _, user = task.build_messages(item, task.load_prompt("diagnosis"))
    assert "True Disease: Angina" in user["content"] and "Model Output:1. Angina" in user["content"]


def _samples(task, items):
    samples = []
    for item in items:
        for run, column in enumerate(["j1", "j2", "j3"]):
            parsed = task.parse(item, Completion(id="x", final=item.row[column], format="replay"))
            samples.append({"item_id": item.id, "run": run, **task.score(item, parsed)})
    return samples


def test_aggregate_consensus_errors_and_groups(tiny_judge_csv):
    task = get_task("judge")
    items = task.load_items(tiny_judge_csv, "diagnosis")
    m = task.aggregate(items, _samples(task, items), 3)["subsets"]["diagnosis"]
    # consensus 4.5, 23/6, 4.5 (two readable runs), -, 19/6 -> errors 0, 5/6, -1/2, -5/6
    assert m["n"] == 4 and m["unscored_items"] == 1 and m["unparsed_runs"] == 4
    assert m["median_error"] == pytest.approx(-0.25)
    assert m["iqr_low"] == pytest.approx(-5 / 6 + 0.75 * (1 / 3))       # linear percentile at position 0.75
    assert m["iqr_high"] == pytest.approx(0.25 * 5 / 6)                 # position 2.25
    assert m["mae"] == pytest.approx((0 + 5 / 6 + 0.5 + 5 / 6) / 4)
    # mlxclin protocol (the default): the headline ICC is on the scores; both variants are carried
    assert m["icc3k"] == m["icc3k_scores"] == pytest.approx(stats.icc3k([[5, 4, 4.5], [4, 4, 3.5], [3, 3, 3.5]]))
    assert m["icc3k_errors"] == pytest.approx(stats.icc3k([[0.5, -0.5, 0], [1, 1, 0.5], [-1, -1, -0.5]]))
    assert m["icc3k_items"] == 3
    assert m["pearson"] == pytest.approx(stats.pearson([4.5, 23 / 6, 4.5, 19 / 6], [4.5, 3, 5, 4]))
    assert {k: v["n"] for k, v in m["groups"].items()} == {"Internal Medicine": 2, "Neurology": 1, "Pediatrics": 1}
    assert m["groups"]["Internal Medicine"]["median_error"] == pytest.approx(5 / 12)
    assert {k: v["n"] for k, v in m["frequency"].items()} == {"frequent": 2, "rare": 2}


def test_subsets_are_aggregated_separately(tiny_judge_csv):
    task = get_task("judge")
    diagnosis = task.load_items(tiny_judge_csv, "diagnosis")
    treatment = task.load_items(tiny_judge_csv, "treatment")[:2]
    metrics = task.aggregate(diagnosis + treatment, _samples(task, diagnosis + treatment), 3)
    assert list(metrics["subsets"]) == ["diagnosis", "treatment"]
    assert metrics["subsets"]["treatment"]["n"] == 2
    assert metrics["subsets"]["diagnosis"]["n"] == 4


def test_paper_protocol_uses_icc_on_errors_and_positional_kappa(tiny_judge_csv):
    paper, ours = get_task("judge", protocol="paper"), get_task("judge")
    items = paper.load_items(tiny_judge_csv, "diagnosis")
    metrics = paper.aggregate(items, _samples(paper, items), 3)
    m, o = metrics["subsets"]["diagnosis"], ours.aggregate(items, _samples(ours, items), 3)["subsets"]["diagnosis"]
    assert metrics["protocol"] == "paper"
    assert m["icc3k"] == m["icc3k_errors"] == o["icc3k_errors"] and m["icc3k_scores"] == o["icc3k_scores"]
    assert m["median_error"] == o["median_error"] and m["iqr_high"] == o["iqr_high"]
    # consensus 4.5, 23/6, 4.5, 19/6 -> half-to-even 4.5, 4.0, 4.5, 3.0; experts 4.5, 3, 5, 4. Labels 3, 4, 4.5, 5 at
    # positions 0-3: observed disagreement (0 + 1 + 1 + 1) / 4 = 0.75; expected with marginals (1/4, 1/4, 1/2, 0)
    # and (1/4 each) = 1.125 -> kappa = 1 - 0.75 / 1.125 = 1/3.
    assert m["weighted_kappa"] == pytest.approx(1 / 3)
    assert o["weighted_kappa"] == pytest.approx(stats.weighted_kappa_linear([4.5, 23 / 6, 4.5, 19 / 6], [4.5, 3, 5, 4]))


def test_an_unknown_protocol_is_one_clear_error():
    with pytest.raises(MlxclinError, match="unknown protocol 'papr'; choose paper or mlxclin"):
        get_task("judge", protocol="papr")
