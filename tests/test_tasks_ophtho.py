import pytest

from mlxclin.backends.base import Completion
from mlxclin.errors import MlxclinError
from mlxclin.tasks import get_task

QUESTION_PLAIN = "Male, 35, halos.\n\nA. POAG  \nB. PACG  \nC. Keratitis  \nD. PSS \nE. Fuchs  \n"
QUESTION_BOLD = "Female, 9, proptosis.\n**A.** B-scan\n**B.** CT\n**C.** CT + drainage\n**D.** MRI\n" \
                "**E.** Wait\n**F.** Steroids\n"


@pytest.fixture
def tiny_ophtho_csv(tmp_path, write_csv):
    """Released-sheet layout: junk first column "6", GT letters, summary debris rows at the end."""
    header = ["6", "Topic", "Type", "Question", "GT", "m1", "m2", "m3"]
    rows = [
        ["1.0", "Glaucoma", "Diagnosis", QUESTION_PLAIN, "B", "B", "b", "C"],            # right 2/3
        ["2.0", "Ocular Trauma", "Management", QUESTION_BOLD, "BCF", "FCB", "B, C, F", "BC"],  # right 2/3
        ["3.0", "Glaucoma", "Management", QUESTION_PLAIN, "ACD", "AC", "", "Answer: ACD"],  # wrong 1/3
        ["", "", "", "", "", "Loading...", "Loading...", "Loading..."],
        ["", "", "", "", "", "75.38%", "74.62%", "130"],
    ]
    return write_csv(tmp_path / "ophthalmology.csv", header, rows)


def test_items_skip_debris_and_carry_groups_and_letters(tiny_ophtho_csv):
    items = get_task("ophtho").load_items(tiny_ophtho_csv)
    assert [i.id for i in items] == ["1", "2", "3"]
    assert items[1].fields["gold"] == "BCF"
    assert items[0].fields["letters"] == "ABCDE"
    assert items[1].fields["letters"] == "ABCDEF"          # bold option markers recognised
    assert items[1].fields["groups"] == ["Management", "Management / Ocular Trauma"]


def test_question_without_lettered_options_is_an_error_naming_the_line(tmp_path, write_csv):
    path = write_csv(tmp_path / "o.csv", ["Topic", "Type", "Question", "GT"],
                     [["Glaucoma", "Diagnosis", QUESTION_PLAIN, "B"],
                      ["Glaucoma", "Diagnosis", "Options: (1) x (2) y", "BG"]])
    with pytest.raises(MlxclinError, match=r"o.csv line 10: the Question has no lettered options"):
        get_task("ophtho").load_items(path)


def test_gold_letter_the_question_does_not_offer_is_an_error(tmp_path, write_csv):
    path = write_csv(tmp_path / "o.csv", ["Topic", "Type", "Question", "GT"],
                     [["Glaucoma", "Diagnosis", QUESTION_PLAIN, "BG"]])
    with pytest.raises(MlxclinError, match=r"o.csv line 2: GT 'BG' names letters the Question does not offer"):
        get_task("ophtho").load_items(path)


def test_rows_without_gt_are_counted_as_dropped(tiny_ophtho_csv, capsys):
    items = get_task("ophtho").load_items(tiny_ophtho_csv)
    assert items.dropped_counts() == {"no GT (gold letters): the paper keeps only rows with a GT": 2}
    assert [d["line"] for d in items.dropped] == [26, 27]   # after three 8-line questions
    assert "dropped 2 row(s): no GT" in capsys.readouterr().err


@pytest.mark.parametrize("answer, prediction, match_type, correct", [
    ("BCF", "BCF", "exact", True),
    ("FCB", "BCF", "exact", True),          # order-free
    ("B, C, F", "BCF", "normalized", True),
    ("Answer: bcf", "BCF", "normalized", True),
    ("BC", "BC", "exact", False),            # a subset of the gold is wrong
    ("BCDF", "BCDF", "exact", False),        # a superset too
    ("", "", "no_match", False),
    ("Because of the CT", "", "no_match", False),
])
def test_parse_and_score_letter_sets(tiny_ophtho_csv, answer, prediction, match_type, correct):
    task = get_task("ophtho")
    item = task.load_items(tiny_ophtho_csv)[1]
    parsed = task.parse(item, Completion(id="x", final=answer, format="api"))
    assert (parsed["prediction"], parsed["match_type"]) == (prediction, match_type)
    assert task.score(item, parsed) == {"correct": correct}


def test_messages_ask_for_letters_only(tiny_ophtho_csv):
    task = get_task("ophtho")
    item = task.load_items(tiny_ophtho_csv)[0]
    system, user = task.build_messages(item, task.load_prompt())
    assert "letters" in system["content"] and "B. PACG" in user["content"]


def test_aggregate_by_type_and_topic(tiny_ophtho_csv):
    task = get_task("ophtho")
    items = task.load_items(tiny_ophtho_csv)
    samples = []
    for item in items:
        for run, column in enumerate(["m1", "m2", "m3"]):
            parsed = task.parse(item, Completion(id="x", final=item.row[column], format="replay"))
            samples.append({"item_id": item.id, "run": run, **parsed, **task.score(item, parsed)})
    metrics = task.aggregate(items, samples, 3)
    assert metrics["accuracy"]["correct"] == 2 and metrics["n_items"] == 3
    assert {g: (v["correct"], v["n"]) for g, v in metrics["groups"].items()} == {
        "Diagnosis": (1, 1), "Diagnosis / Glaucoma": (1, 1),
        "Management": (1, 2), "Management / Glaucoma": (0, 1), "Management / Ocular Trauma": (1, 1)}
    # run 0: B, FCB, AC -> 2/3; run 1: b, "B, C, F", "" -> 2/3; run 2: C, BC, "Answer: ACD" -> 1/3
    assert metrics["per_run_accuracy"] == pytest.approx([200 / 3, 200 / 3, 100 / 3])
    assert metrics["match_types"] == {"exact": 5, "normalized": 3, "fuzzy": 0, "no_match": 1}


@pytest.mark.parametrize("answer, paper_correct, ours_correct", [
    ("BCF", True, True), ("F C B", True, True), ("B, C, F", True, True),
    ("Answer: BCF", False, True),      # the paper reads every letter: A, B, C, E, F, N, R, S, W
])
def test_paper_protocol_reads_every_letter_of_the_answer(tiny_ophtho_csv, answer, paper_correct, ours_correct):
    item = get_task("ophtho").load_items(tiny_ophtho_csv)[1]
    for protocol, correct in (("paper", paper_correct), ("mlxclin", ours_correct)):
        task = get_task("ophtho", protocol=protocol)
        assert task.score(item, task.parse(item, Completion(id="x", final=answer))) == {"correct": correct}
