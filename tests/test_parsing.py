import pytest

from mlxclin.parsing import (FUZZY_THRESHOLD, OptionMatch, match_option, option_letters, parse_letters, parse_score,
                             split_options)

# --- split_options --------------------------------------------------------------------------------------------


def test_split_options_keeps_comma_bearing_gold_whole_and_in_place():
    text = "Meningioangiomatosis, Blue rubber bleb nevus syndrome, Sturge–Weber syndrome, type 1, PHACE syndrome"
    assert split_options(text, keep_whole=["Sturge–Weber syndrome, type 1"]) == [
        "Meningioangiomatosis", "Blue rubber bleb nevus syndrome", "Sturge–Weber syndrome, type 1", "PHACE syndrome"]


def test_split_options_without_protection_splits_naively_outside_brackets():
    assert split_options("A, Sturge–Weber syndrome, type 1") == ["A", "Sturge–Weber syndrome", "type 1"]


def test_split_options_never_splits_inside_brackets():
    text = ("VACTERL association, OEIS (omphalocele, cloacal exstrophy, and spinal dysraphism) complex, "
            "LV fibrosis [4,6]")
    assert split_options(text) == ["VACTERL association",
                                   "OEIS (omphalocele, cloacal exstrophy, and spinal dysraphism) complex",
                                   "LV fibrosis [4,6]"]


def test_split_options_protects_a_gold_that_is_also_a_prefix_of_another_option():
    text = "Glioma, MAP kinase altered, Glioma, MAP kinase altered (FGFR1 fusion), Ependymoma"
    gold = "Glioma, MAP kinase altered (FGFR1 fusion)"
    assert split_options(text, keep_whole=[gold]) == ["Glioma", "MAP kinase altered", gold, "Ependymoma"]


def test_split_options_drops_empty_pieces():
    assert split_options(" A ,, B ,") == ["A", "B"]
    assert split_options("") == []


# --- match_option ---------------------------------------------------------------------------------------------

OPTIONS = ["Left ventricular endomyocardial fibrosis", "Right ventricular endomyocardial fibrosis",
           "Sturge–Weber syndrome, type 1", "Gardner’s syndrome"]


def test_match_option_exact_ignores_surrounding_whitespace():
    m = match_option("  Gardner’s syndrome\n", OPTIONS)
    assert (m.option, m.match_type) == ("Gardner’s syndrome", "exact")


@pytest.mark.parametrize("answer", ["gardners syndrome", "gardnerâ€™s syndrome", "GARDNER'S SYNDROME."])
def test_match_option_normalized(answer):
    m = match_option(answer, OPTIONS)
    assert (m.option, m.match_type) == ("Gardner’s syndrome", "normalized")


def test_match_option_fuzzy_accepts_a_typo():
    m = match_option("Left ventricular endomyocardial fibrosus", OPTIONS)
    assert (m.option, m.match_type) == ("Left ventricular endomyocardial fibrosis", "fuzzy")
    assert FUZZY_THRESHOLD <= m.similarity < 100


def test_match_option_rejects_a_less_specific_answer_below_threshold():
    m = match_option("Sturge-Weber syndrome", OPTIONS)
    assert (m.option, m.match_type) == (None, "no_match")
    assert m.similarity < FUZZY_THRESHOLD


def test_match_option_threshold_is_a_parameter():
    assert match_option("Sturge-Weber syndrome", OPTIONS, threshold=80).match_type == "fuzzy"


def test_match_option_ambiguous_between_two_close_options_is_no_match():
    m = match_option("ventricular endomyocardial fibrosis", OPTIONS)
    assert (m.option, m.match_type) == (None, "no_match")


@pytest.mark.parametrize("answer", ["", "   ", None, "...", "Completely different disease"])
def test_match_option_empty_or_unrelated_is_no_match(answer):
    assert match_option(answer, OPTIONS).match_type == "no_match"


def test_match_option_without_options_is_no_match():
    assert match_option("anything", []).match_type == "no_match"


# --- letters --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    ("BD", ("BD", "exact")),
    ("DB", ("BD", "exact")),                       # order does not matter
    ("BCDE", ("BCDE", "exact")),
    ("A, C", ("AC", "normalized")),
    ("Answer: BD", ("BD", "normalized")),
    ("answer: b", ("B", "normalized")),
    ("bd", ("BD", "normalized")),                  # lowercase
    ("(A) and (C)", ("AC", "normalized")),
    ("**B**", ("B", "normalized")),
    ("B.", ("B", "normalized")),
    ("ABCFG H", ("ABCFGH", "normalized")),          # stray space in a stored answer
    ("The correct options are B and D.", ("BD", "normalized")),
    ("Final answer: A,C,E", ("ACE", "normalized")),
    ("Answer: B because the pressure is high", ("B", "normalized")),
    ("B, B", ("B", "normalized")),
])
def test_parse_letters_reads_tolerated_forms(answer, expected):
    assert parse_letters(answer, "ABCDEFGHI") == expected


@pytest.mark.parametrize("answer", [
    "", "   ", None,
    "Loading...",                        # spreadsheet placeholder
    "bad", "face", "Cafe",               # ordinary words made of option letters
    "db",                                # lowercase run out of order reads as a word, not letters
    "I think B",                         # "I" is a pronoun here, and the sentence is not an answer
    "Cataract",
    "ACE inhibitors",
    "The answer is a combination of therapies",   # "a" after the marker is an article
    "BASED",                              # contains S, not an option letter
])
def test_parse_letters_never_reads_letters_out_of_words(answer):
    assert parse_letters(answer, "ABCDEFGHI") == ("", "no_match")


def test_parse_letters_respects_the_valid_letters():
    assert parse_letters("F", "ABCDE") == ("", "no_match")
    assert parse_letters("F", "ABCDEF") == ("F", "exact")


def test_option_letters_reads_plain_and_bold_option_lines():
    assert option_letters("Stem\n\nA. one  \nB. two\nC) three\n") == "ABC"
    assert option_letters("Stem\n**A.** one\n**B.** two\n") == "AB"
    assert option_letters("No options here. A. is not at a line start") == ""


# --- judge scores ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    ("4", 4.0), ("4.5", 4.5), ("1", 1.0), ("5", 5.0), ("3.0", 3.0),
    ("Score: 4/5", 4.0),
    ("Rating 3.5.", 3.5),
    ("On a scale of 1-5, I give 4", 4.0),         # the range is not a score
    ("1 to 5: 2.5", 2.5),
    ("2025 guidelines suggest 4", 4.0),          # digits of a longer number are not scores
    ("4.5 because, although 3 would be harsh", 4.5),   # the first score counts
])
def test_parse_score(answer, expected):
    assert parse_score(answer) == expected


@pytest.mark.parametrize("answer", ["", None, "none", "10", "0", "6", "4.25", "4.7", "4-5", "five", "-"])
def test_parse_score_unparseable_is_none(answer):
    assert parse_score(answer) is None


def test_split_options_protects_only_complete_entries():
    # "Lymphoma" inside "Primary cardiac Lymphoma" is not a list entry and must not be cut out of it.
    assert split_options("Primary cardiac Lymphoma, Lymphoma, Myxoma", keep_whole=["Lymphoma"]) == [
        "Primary cardiac Lymphoma", "Lymphoma", "Myxoma"]


# --- the paper's rules (protocol "paper") -------------------------------------------------------------------------

def test_match_option_paper_cascade_exact_normalized_then_difflib():
    from mlxclin.parsing import match_option_paper
    options = ["Osteoid osteoma", "Brodie abscess", "Osteoid osteoma", "Stress fracture"]
    assert match_option_paper(" Brodie abscess ", options) == OptionMatch("Brodie abscess", "exact", 100.0)
    assert match_option_paper("BRODIE ABSCESS.", options).match_type == "normalized"
    # raw difflib ratio of "Brodie absces" vs "Brodie abscess" = 2*13/27 = 0.963 >= 0.8
    typo = match_option_paper("Brodie absces", options)
    assert typo.option == "Brodie abscess" and typo.match_type == "fuzzy"
    assert typo.similarity == pytest.approx(100 * 26 / 27)
    assert match_option_paper("Ewing sarcoma", options).match_type == "no_match"


def test_match_option_paper_takes_difflibs_best_of_two_close_options_where_mlxclin_refuses():
    from mlxclin.parsing import match_option_paper
    options = ["Left ventricular fibrosis", "Right ventricular fibrosis"]
    paper = match_option_paper("ventricular fibrosis", options)
    assert paper.match_type == "fuzzy" and paper.option == "Left ventricular fibrosis"   # 2*20/45 = 0.889 > 2*20/46
    assert match_option("ventricular fibrosis", options).match_type == "no_match"


def test_match_option_paper_second_stage_is_on_normalized_text():
    from mlxclin.parsing import match_option_paper
    # raw: "NAIL–PATELLA SYNDROM" vs "Nail-patella syndrome" differ in case almost everywhere (< 0.8);
    # normalized: "nail-patella syndrom" vs "nail-patella syndrome" = 40/41 = 0.976 >= 0.9
    found = match_option_paper("NAIL–PATELLA SYNDROM", ["Nail-patella syndrome", "Osteopetrosis"])
    assert found.option == "Nail-patella syndrome" and found.match_type == "fuzzy"
    assert found.similarity == pytest.approx(100 * 40 / 41)


@pytest.mark.parametrize("answer, expected", [
    ("BD", ("BD", "exact")), ("ABCFG H", ("ABCFGH", "exact")), ("db", ("BD", "exact")),
    ("A, C", ("AC", "normalized")), ("Answer: B", ("ABENRSW", "normalized")), ("", ("", "no_match")),
    ("1.", ("", "no_match")),
])
def test_paper_letters_reads_every_letter(answer, expected):
    from mlxclin.parsing import paper_letters
    assert paper_letters(answer) == expected
