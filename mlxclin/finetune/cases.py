"""Training cases: the released `eurorad_train_messages.jsonl` or a table with the Eurorad test-file columns.

The released jsonl holds chat messages (system, user, assistant). Its user message is the case text followed by a
heading line and a "- option" list (and a closing instruction); we take the case text and the options back out so
that training prompts are rebuilt with the same prompt template as the Eurorad task (or --prompt-file), rather
than with the wording the file happens to carry. The file has no case ids, so a case is keyed by a hash of its
text and gold label (stable across runs, used to attach teacher traces).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mlxclin.data import read_table
from mlxclin.errors import MlxclinError
from mlxclin.text import normalize_text


@dataclass
class TrainCase:
    key: str                 # hash of case text + gold: the file carries no case ids
    case: str                # history and findings, as the Eurorad prompt's {case}
    options: list            # candidate diagnoses, in the file's order
    gold: str
    trace: str = ""          # reasoning for the analysis channel, when one is known
    source: int = 0          # 0-based row of the input file


def case_key(case: str, gold: str) -> str:
    text = normalize_text(case) + "\x1f" + normalize_text(gold)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_case_message(text: str) -> tuple:
    """(case text, options) from a user message ending in a "- option" list.

    The last run of lines starting with "- " is the list; the line right before it is its heading ("Candidate
    diagnoses (choose ONE):") when it ends with a colon; everything before that is the case.
    """
    lines = text.splitlines()
    bullets = [i for i, line in enumerate(lines) if line.startswith("- ")]
    if not bullets:
        return text.strip(), []
    end = bullets[-1]
    start = end
    while start - 1 >= 0 and lines[start - 1].startswith("- "):
        start -= 1
    options = [line[2:].strip() for line in lines[start:end + 1] if line[2:].strip()]
    head = start
    if head > 0 and lines[head - 1].rstrip().endswith(":"):
        head -= 1
    return "\n".join(lines[:head]).strip(), options


def _from_messages(rows: list, path: Path) -> list:
    cases = []
    for number, row in enumerate(rows):
        messages = row.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise MlxclinError(f"{path} row {number + 1}: 'messages' is not a list of messages")
        user = [m for m in messages if m.get("role") == "user"]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        if not user or not assistant:
            raise MlxclinError(f"{path} row {number + 1}: needs a user and an assistant message")
        case, options = split_case_message(str(user[-1].get("content") or ""))
        gold = str(assistant[-1].get("content") or "").strip()
        if not case or not options or not gold:
            raise MlxclinError(f"{path} row {number + 1}: the user message needs case text and a '- option' list, "
                               f"the assistant message the gold diagnosis")
        trace = str(assistant[-1].get("thinking") or "").strip()
        cases.append(TrainCase(case_key(case, gold), case, options, gold, trace, number))
    return cases


def _from_eurorad_table(path: Path) -> list:
    from mlxclin.tasks import get_task

    items = get_task("eurorad").load_items(path)
    return [TrainCase(case_key(i.fields["case"], i.fields["gold"]), i.fields["case"], i.fields["options"],
                      i.fields["gold"], "", n) for n, i in enumerate(items)]


def load_cases(path, limit: Optional[int] = None) -> list:
    """Training cases from a messages jsonl or a CSV/JSONL with the Eurorad columns; the first `limit` only."""
    path = Path(path)
    table = read_table(path)
    if "messages" in table.columns:
        cases = _from_messages(table.rows, path)
    else:
        cases = _from_eurorad_table(path)
    if not cases:
        raise MlxclinError(f"{path} holds no training cases")
    return cases[:limit] if limit else cases
