import pytest

from mlxclin.errors import MlxclinError
from mlxclin.tasks import Task, get_task, register_task, task_names
from mlxclin.tasks import base


@pytest.mark.parametrize("name, canonical", [
    ("eurorad", "eurorad"), ("generalist", "eurorad"), ("Generalist", "eurorad"),
    ("ophtho", "ophtho"), ("specialist", "ophtho"),
    ("judge", "judge"), ("clinical-judge", "judge"),
])
def test_names_and_aliases(name, canonical):
    assert get_task(name).name == canonical


def test_task_names_and_judge_subsets():
    assert {"eurorad", "ophtho", "judge"} <= set(task_names())
    assert get_task("judge").subsets == ("diagnosis", "treatment")
    assert get_task("eurorad").subsets == ()


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(MlxclinError) as e:
        get_task("medqa-typo")
    assert "unknown task 'medqa-typo'" in str(e.value) and "eurorad (generalist)" in str(e.value)


def test_options_reach_the_task():
    assert get_task("eurorad", map_options=True).map_options is True
    assert get_task("eurorad").map_options is False


def test_a_new_task_registers_without_touching_the_others(monkeypatch):
    monkeypatch.setattr(base, "_TASKS", dict(base._TASKS))
    monkeypatch.setattr(base, "_ALIASES", dict(base._ALIASES))

    @register_task
    class MedQA(Task):
        name = "medqa"
        aliases = ("usmle",)

    assert isinstance(get_task("usmle"), MedQA)
    assert get_task("eurorad").name == "eurorad"


def test_a_name_claimed_twice_is_refused(monkeypatch):
    monkeypatch.setattr(base, "_TASKS", dict(base._TASKS))
    monkeypatch.setattr(base, "_ALIASES", dict(base._ALIASES))

    class Clash(Task):
        name = "clash"
        aliases = ("generalist",)

    with pytest.raises(RuntimeError, match="generalist"):
        register_task(Clash)
