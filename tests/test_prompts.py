import pytest

from mlxclin.errors import MlxclinError
from mlxclin.prompts import load_prompt
from mlxclin.tasks import get_task


@pytest.mark.parametrize("task_name, subset, placeholders", [
    ("eurorad", "", {"case": "CASE-TEXT", "options": "- Opt A\n- Opt B"}),
    ("ophtho", "", {"question": "QUESTION-TEXT"}),
    ("judge", "diagnosis", {"description": "DESC-TEXT", "disease": "D", "specialty": "S"}),
    ("judge", "treatment", {"description": "DESC-TEXT", "disease": "D", "specialty": "S"}),
])
def test_shipped_prompts_load_and_fill_every_placeholder(task_name, subset, placeholders):
    prompt = get_task(task_name).load_prompt(subset)
    messages = prompt.messages(**placeholders)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    first_value = next(iter(placeholders.values()))
    assert first_value in user and "{" not in user


def test_judge_prompts_state_the_rubric_and_half_points():
    for subset, topic in (("diagnosis", "diagnos"), ("treatment", "treatment")):
        system = get_task("judge").load_prompt(subset).system
        assert "1-5" in system and "half" in system and topic in system


def test_prompt_file_override_sections_comment_and_literal_braces(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("my wording, v2 of the paper\n### system\nBe brief {not a placeholder: ok}\n"
                    "### user\nCase: {question}\n", encoding="utf-8")
    prompt = load_prompt(str(path))
    with pytest.raises(MlxclinError):        # {not ...} has a space, but {question} must be provided
        prompt.messages()
    messages = prompt.messages(question="Q1")
    assert messages == [{"role": "system", "content": "Be brief {not a placeholder: ok}"},
                        {"role": "user", "content": "Case: Q1"}]


def test_prompt_without_system_section_has_only_a_user_message(tmp_path):
    path = tmp_path / "user_only.txt"
    path.write_text("### user\n{question}\n", encoding="utf-8")
    assert load_prompt(path).messages(question="Q") == [{"role": "user", "content": "Q"}]


@pytest.mark.parametrize("content, message", [
    ("just text, no sections\n", "needs a '### user' section"),
    ("### user\na\n### user\nb\n", "two '### user' sections"),
])
def test_malformed_prompt_files(tmp_path, content, message):
    path = tmp_path / "p.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MlxclinError, match=message):
        load_prompt(path)


def test_unknown_placeholder_is_named(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("### user\n{question} {speciality}\n", encoding="utf-8")
    with pytest.raises(MlxclinError, match="speciality"):
        load_prompt(path).messages(question="Q")


def test_missing_prompt_file():
    with pytest.raises(MlxclinError, match="not found"):
        load_prompt("does/not/exist.txt")
