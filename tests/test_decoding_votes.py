"""Votes over beam answers: clear majority, ties to the earliest beam, an empty answer that wins (and is scored
wrong), and the mean-log-prob fallback."""

import pytest

from mlxclin.decoding.votes import logprob_fallback_vote, majority_vote, vote
from mlxclin.errors import MlxclinError
from mlxclin.tasks.base import Item
from mlxclin.tasks.eurorad import EuroradTask


def test_clear_majority_wins_and_keeps_its_first_spelling():
    answers = ["Pneumonia", "lung cancer", "Lung Cancer.", "Lymphoma", "LUNG  CANCER"]
    result = majority_vote(answers)
    assert (result.answer, result.beam, result.count, result.total, result.rule) == ("lung cancer", 1, 3, 5, "majority")


def test_tie_goes_to_the_earliest_beam():
    result = majority_vote(["Lymphoma", "Pneumonia", "Pneumonia", "Lymphoma", "Sarcoidosis"])
    assert (result.answer, result.beam, result.count) == ("Lymphoma", 0, 2)
    result = majority_vote(["Sarcoidosis", "Pneumonia", "Lymphoma", "Lymphoma", "Pneumonia"])
    assert (result.answer, result.beam, result.count) == ("Pneumonia", 1, 2)


def test_empty_extraction_votes_wins_and_is_scored_wrong():
    answers = ["", "Appendicitis", "", "Diverticulitis", ""]
    result = majority_vote(answers)
    assert (result.answer, result.beam, result.count) == ("", 0, 3)
    task = EuroradTask()
    item = Item(id="1", fields={"gold": "Appendicitis", "options": ["Appendicitis", "Diverticulitis"]})
    assert task.score(item, {"prediction": result.answer})["correct"] is False
    assert task.score(item, {"prediction": "Appendicitis"})["correct"] is True


def test_logprob_fallback_keeps_a_half_majority():
    answers = ["A", "B", "A", "C"]
    result = logprob_fallback_vote(answers, [-2.0, -0.1, -1.0, -0.5])
    assert (result.answer, result.rule, result.count) == ("A", "majority", 2)


def test_logprob_fallback_takes_the_most_confident_beam_without_half_agreement():
    answers = ["A", "B", "A", "C", "D"]   # A has 2 of 5 < half
    result = logprob_fallback_vote(answers, [-2.0, -1.5, -1.0, -0.3, -0.9])
    assert (result.answer, result.beam, result.rule, result.count) == ("C", 3, "logprob", 1)
    # equal mean log-probs: the earlier (higher-scoring) beam
    result = logprob_fallback_vote(["A", "B", "C"], [-0.5, -0.2, -0.2])
    assert (result.answer, result.beam) == ("B", 1)


def test_vote_by_name_and_bad_input():
    assert vote("majority", ["x", "y", "y"]).answer == "y"
    assert vote("logprob-fallback", ["x", "y", "z"], [-3.0, -1.0, -2.0]).answer == "y"
    with pytest.raises(MlxclinError, match="--vote"):
        vote("plurality", ["x"])
    with pytest.raises(MlxclinError, match="at least one"):
        majority_vote([])
    with pytest.raises(MlxclinError, match="log-probs"):
        logprob_fallback_vote(["x", "y"], [-1.0])
    with pytest.raises(MlxclinError, match="mean log-prob"):
        vote("logprob-fallback", ["x", "y", "z"])
