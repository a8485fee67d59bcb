"""Reasoning traces for training cases, written by a teacher model through any backend.

The teacher (e.g. gpt-oss-120b locally, or an OpenAI-compatible endpoint) sees the case, the candidate list and
the gold diagnosis (mlxclin/configs/finetune/teacher_eurorad.txt) and writes its reasoning as the visible answer, ending
in "Final answer: ...". The teacher's own hidden analysis is not used: it talks about having been given the
answer, which is exactly what the student must not learn to say.

A trace is kept only when the teacher's final answer equals the gold after normalization, the reply was not cut
off, its length is within bounds and it does not refer to the answer having been provided. Every case gets one
record in the output jsonl (accepted or not, with the reason), appended as each batch finishes, so a rerun skips
the cases already done.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlxclin.text import normalize_text

TEACHER_PROMPT = "teacher_eurorad.txt"
_FINAL_LINE = re.compile(r"(?im)^[ \t>*_#-]*final answer[ \t*_]*[:\-][ \t*_]*(.+?)[ \t*_]*$")
# Phrases that give away that the answer was handed to the teacher.
_GIVEN_AWAY = re.compile(r"(?i)\b(confirmed (final )?diagnosis (is|was) (given|provided)|(given|provided|stated) "
                         r"(final )?(answer|diagnosis)|we (are|were) told|as (given|provided) in the prompt)\b")


@dataclass
class TraceLimits:
    min_chars: int = 200
    max_chars: int = 8000


def teacher_prompt(path=None):
    from mlxclin.paths import config_file
    from mlxclin.prompts import load_prompt

    return load_prompt(path or config_file("finetune", TEACHER_PROMPT))


def teacher_messages(case, prompt) -> list:
    return prompt.messages(case=case.case, options="\n".join(f"- {o}" for o in case.options), gold=case.gold)


def split_reply(text: str) -> tuple:
    """(reasoning, final answer) from a reply ending in "Final answer: ..."; ("...", "") without that line."""
    matches = list(_FINAL_LINE.finditer(text or ""))
    if not matches:
        return (text or "").strip(), ""
    last = matches[-1]
    return text[:last.start()].strip(), last.group(1).strip().strip("\"'").strip()


def judge_reply(case, completion, limits: TraceLimits) -> dict:
    """The record for one teacher reply: accepted or the reason it was not."""
    reply = completion.final or ""
    reasoning, answer = split_reply(reply)
    if completion.status == "error" or completion.error:
        reason = f"error: {completion.error or 'backend error'}"
    elif completion.status == "truncated" or completion.finish_reason == "length":
        reason = "truncated (max tokens)"
    elif not answer:
        reason = "no 'Final answer:' line"
    elif normalize_text(answer) != normalize_text(case.gold):
        reason = "final answer is not the gold diagnosis"
    elif len(reasoning) < limits.min_chars:
        reason = f"reasoning shorter than {limits.min_chars} characters"
    elif len(reasoning) > limits.max_chars:
        reason = f"reasoning longer than {limits.max_chars} characters"
    elif _GIVEN_AWAY.search(reasoning):
        reason = "reasoning refers to the answer having been provided"
    else:
        reason = ""
    return {"key": case.key, "source": case.source, "accepted": not reason, "reason": reason,
            "reasoning": reasoning, "final": answer, "gold": case.gold,
            "completion_tokens": completion.completion_tokens}


def done_keys(path: Path) -> set:
    """Cases with a record in `path`; backend errors are transient, so those cases are asked again."""
    if not path.is_file():
        return set()
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["key"] for r in records if not str(r.get("reason", "")).startswith("error")}


def generate_traces(cases: list, backend, out, effort: str = "high", max_tokens: int = 4096,
                    temperature: float = 1.0, seed: int = 0, chunk: int = 1, limits: TraceLimits = TraceLimits(),
                    prompt_file=None, teacher: str = "", progress: bool = True) -> dict:
    """Ask the teacher about every case not yet in `out`; returns counts {accepted, rejected, skipped, reasons}."""
    from tqdm import tqdm

    from mlxclin.backends.base import Request

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prompt = teacher_prompt(prompt_file)
    seen = done_keys(out)
    todo, queued = [], set()
    for c in cases:  # duplicated cases (same text and gold) share one trace
        if c.key not in seen and c.key not in queued:
            todo.append(c)
            queued.add(c.key)
    counts = {"accepted": 0, "rejected": 0, "skipped": len(cases) - len(todo), "reasons": {}}
    bar = tqdm(total=len(todo), desc="traces", unit="case", disable=not progress)
    for i in range(0, len(todo), chunk):
        batch = todo[i:i + chunk]
        requests = [Request(id=c.key, messages=teacher_messages(c, prompt), effort=effort, max_tokens=max_tokens,
                            temperature=temperature, seed=seed + c.source, item_id=c.key) for c in batch]
        records = [judge_reply(c, comp, limits) for c, comp in zip(batch, backend.generate(requests))]
        with open(out, "a", encoding="utf-8") as f:
            for record in records:
                record.update(teacher=teacher, effort=effort)
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                key = "accepted" if record["accepted"] else "rejected"
                counts[key] += 1
                if record["reason"]:
                    counts["reasons"][record["reason"]] = counts["reasons"].get(record["reason"], 0) + 1
        bar.update(len(batch))
        bar.set_postfix(kept=counts["accepted"], rejected=counts["rejected"], refresh=False)
    bar.close()
    return counts
