"""Qwen3.5 / Gemma 4 completion parsing, effort mapping and training targets (no model needed)."""

import pytest

from mlxclin.errors import MlxclinError
from mlxclin.models.families import GEMMA4, QWEN3_5, family_of, parse_completion, thinking_for, training_target


def test_family_detection_covers_every_model_type():
    for model_type in ("qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text"):
        assert family_of({"model_type": model_type}) is QWEN3_5
    assert family_of({"model_type": "gemma4"}) is GEMMA4 and family_of({"model_type": "gemma4_text"}) is GEMMA4
    assert family_of({"model_type": "gpt_oss"}) is None and family_of({}) is None


def test_qwen_closed_think_block():
    p = parse_completion(QWEN3_5, "The mass is apical.\n</think>\n\nLung cancer<|im_end|>", True, thinking=True)
    assert (p.reasoning, p.final, p.status, p.notes) == ("The mass is apical.", "Lung cancer", "complete", {})


def test_qwen_unclosed_think_is_all_reasoning():
    truncated = parse_completion(QWEN3_5, "The mass is apical and", False, thinking=True)
    assert (truncated.reasoning, truncated.final, truncated.status) == ("The mass is apical and", "", "truncated")
    assert truncated.notes["reasoning_unclosed"] is True
    stopped = parse_completion(QWEN3_5, "thinking forever<|im_end|>", True, thinking=True)
    assert (stopped.final, stopped.status) == ("", "malformed")


def test_qwen_thinking_off_and_explicit_think_tags():
    assert parse_completion(QWEN3_5, "Pneumonia<|im_end|>", True, thinking=False).final == "Pneumonia"
    p = parse_completion(QWEN3_5, "<think>\nhm\n</think>\n\nPneumonia", True, thinking=False)
    assert (p.reasoning, p.final) == ("hm", "Pneumonia")


def test_gemma_thought_channel_missing_channel_and_unclosed():
    p = parse_completion(GEMMA4, "<|channel>thought\nApical mass.<channel|>Lung cancer<turn|>", True, thinking=True)
    assert (p.reasoning, p.final, p.status, p.notes) == ("Apical mass.", "Lung cancer", "complete", {})
    missing = parse_completion(GEMMA4, "Lung cancer<turn|>", True, thinking=True)
    assert (missing.reasoning, missing.final, missing.notes) == ("", "Lung cancer", {"thought_channel": "missing"})
    assert parse_completion(GEMMA4, "Lung cancer", True, thinking=False).notes == {}
    unclosed = parse_completion(GEMMA4, "<|channel>thought\nstill thinking", False, thinking=True)
    assert (unclosed.reasoning, unclosed.final, unclosed.status) == ("still thinking", "", "truncated")
    assert unclosed.notes["reasoning_unclosed"] is True


def test_mojibake_is_repaired_and_counted():
    text = "Gardnerâ€™s view\n</think>\n\nSturgeâ€“Weber syndrome"
    p = parse_completion(QWEN3_5, text, True, thinking=True)
    assert p.final == "Sturge\u2013Weber syndrome" and p.reasoning == "Gardner\u2019s view"
    assert p.notes["mojibake_repaired"] == 2
    assert "mojibake_repaired" not in parse_completion(QWEN3_5, "x</think>café", True, thinking=True).notes


def test_effort_maps_to_the_thinking_switch_and_unknown_efforts_are_refused():
    for family in (QWEN3_5, GEMMA4):
        assert thinking_for(family, "low") is False
        assert thinking_for(family, "medium") is True and thinking_for(family, "high") is True
        with pytest.raises(MlxclinError, match="--effort max: .* has no such thinking setting"):
            thinking_for(family, "max")


def test_training_targets_are_in_think_and_channel_form():
    assert training_target(QWEN3_5, "Lung cancer", "apical mass", True) == \
        "apical mass\n</think>\n\nLung cancer<|im_end|>"
    assert training_target(QWEN3_5, "Lung cancer", "", False) == "Lung cancer<|im_end|>"
    assert training_target(GEMMA4, "Lung cancer", "apical", True) == \
        "<|channel>thought\napical<channel|>Lung cancer<turn|>"
    assert training_target(GEMMA4, "Lung cancer", "", True) == "Lung cancer<turn|>"
