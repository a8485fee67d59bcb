"""What a task is, and the registry that finds tasks by name.

A task module (any file in mlxclin/tasks/) defines a `Task` subclass decorated with `@register_task`. The
registry imports the modules of this package on first lookup, so adding a task means adding one file: nothing
else is edited. A task knows its data (columns, file names), its prompt, how to read a model's final answer and
how to score and aggregate; it never knows which backend produced the answer.
"""

import importlib
import pkgutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from mlxclin.data import Table, read_table
from mlxclin.errors import MlxclinError
from mlxclin.prompts import PromptTemplate, load_prompt
from mlxclin.protocol import DEFAULT_PROTOCOL, check_protocol


class LoadedItems(list):
    """The items of one data file (a list), plus the rows the task's protocol left out.

    `dropped`: one {"file", "line", "reason"} per left-out row; `dropped_counts()`: reason -> count, the form
    recorded in metrics.json. Nothing is left out without a reason a reader can check against the file.
    """

    def __init__(self, items, dropped=()):
        super().__init__(items)
        self.dropped = list(dropped)

    def dropped_counts(self) -> dict:
        return dict(Counter(d["reason"] for d in self.dropped))


def note_dropped(path, dropped: list) -> None:
    """One stderr line per reason: how many rows of `path` were left out, and on which lines."""
    by_reason = {}
    for d in dropped:
        by_reason.setdefault(d["reason"], []).append(d["line"])
    for reason, lines in by_reason.items():
        shown = ", ".join(str(n) for n in lines[:8]) + (", ..." if len(lines) > 8 else "")
        print(f"mlxclin: note: {path}: dropped {len(lines)} row(s): {reason} (line {shown})", file=sys.stderr)


@dataclass
class Item:
    id: str                  # unique within the task (and subset), stable for the same data file
    fields: dict             # what the task needs: gold label, text, group names (already cleaned)
    subset: str = ""         # "" for tasks without subsets
    row: dict = field(default_factory=dict, repr=False)   # the full source row (replay reads its columns)


class Task:
    """Base class: subclasses set the class attributes and implement the four methods marked below."""

    name = ""
    aliases = ()
    subsets = ()             # e.g. ("diagnosis", "treatment"); empty = the task has a single data file
    default_runs = 3

    def __init__(self, map_options: bool = False, protocol: str = DEFAULT_PROTOCOL):
        # Stored (replayed) answers are scored as they are unless asked to map them onto the options, because a
        # different matching rule than the paper's would silently change published numbers.
        self.map_options = map_options
        # "paper" | "mlxclin": which rules read answers and compute agreement (mlxclin.protocol.DIFFERENCES).
        self.protocol = check_protocol(protocol)

    # --- data ---------------------------------------------------------------------------------------------------
    def data_file(self, subset: str = "") -> str:
        """Name of the released data file (a key of mlxclin.data.SOURCES) for a subset."""
        raise NotImplementedError

    def required_columns(self, subset: str = "") -> tuple:
        raise NotImplementedError

    def load_items(self, path, subset: str = "") -> list:
        table = read_table(path)
        table.require_columns(self.required_columns(subset), f"task {self.name}")
        items = self.items_from_table(table, subset)
        if not items:
            raise MlxclinError(f"{path} has no usable rows for task {self.name}")
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise MlxclinError(f"{path} has duplicate item id {duplicate!r}")
        note_dropped(path, table.dropped)
        return LoadedItems(items, table.dropped)

    def items_from_table(self, table: Table, subset: str) -> list:   # implement
        """Items from the rows. A malformed row raises MlxclinError naming table.where(i); a row the paper's
        protocol leaves out is recorded with table.drop(i, reason), never skipped silently."""
        raise NotImplementedError

    # --- prompting ------------------------------------------------------------------------------------------------
    def prompt_name(self, subset: str = "") -> str:
        return f"{self.name}_{subset}" if subset else self.name

    def load_prompt(self, subset: str = "", override: Optional[str] = None) -> PromptTemplate:
        return load_prompt(override or self.prompt_name(subset))

    def build_messages(self, item: Item, prompt: PromptTemplate) -> list:   # implement
        raise NotImplementedError

    # --- reading and scoring answers ----------------------------------------------------------------------------
    def parse(self, item: Item, completion) -> dict:   # implement
        """Read the completion's final answer: {"prediction": ..., "match_type": ...}."""
        raise NotImplementedError

    def gold(self, item: Item):
        """The reference answer recorded with each sample (for reading samples.jsonl by eye)."""
        return item.fields.get("gold")

    def score(self, item: Item, parsed: dict) -> dict:   # implement
        """Score one run: {"correct": bool} or {"score": float | None}."""
        raise NotImplementedError

    def aggregate(self, items: list, samples: list, runs: int) -> dict:   # implement
        """Task-specific part of metrics.json from the items and their samples (dicts as in samples.jsonl)."""
        raise NotImplementedError


# --- registry -----------------------------------------------------------------------------------------------------

_TASKS = {}       # canonical name -> Task subclass
_ALIASES = {}     # alias -> canonical name
_DISCOVERED = False


def register_task(cls):
    """Class decorator: make a Task subclass findable by its name and aliases."""
    for key in (cls.name, *cls.aliases):
        owner = _ALIASES.get(key)
        if owner is not None and owner != cls.name:
            raise RuntimeError(f"task name {key!r} is claimed by both {owner} and {cls.name}")
        _ALIASES[key] = cls.name
    _TASKS[cls.name] = cls
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import mlxclin.tasks as package
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _DISCOVERED = True


def task_names() -> list:
    """Canonical task names, sorted."""
    _discover()
    return sorted(_TASKS)


def get_task(name: str, **options) -> Task:
    """A task instance by name or alias (case-insensitive); an unknown name is a one-line MlxclinError."""
    _discover()
    key = (name or "").strip().lower()
    if key not in _ALIASES:
        known = ", ".join(f"{n} ({'/'.join(_TASKS[n].aliases)})" if _TASKS[n].aliases else n for n in task_names())
        raise MlxclinError(f"unknown task {name!r}; known tasks: {known}")
    return _TASKS[_ALIASES[key]](**options)
