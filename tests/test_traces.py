"""mlxclin traces: teacher prompts with the gold, acceptance rules with reasons, resume, and use by prepare."""

import json

from mlxclin.backends.base import Completion
from mlxclin.finetune.cases import load_cases
from mlxclin.finetune.traces import TraceLimits, generate_traces, split_reply

REASONING = "The findings of an acute filling defect in a segmental artery with a wedge-shaped opacity " * 3


class ScriptedTeacher:
    """A backend answering each case (by source row) with a scripted completion; records what it was asked."""

    name = "scripted"

    def __init__(self, replies: dict):
        self.replies, self.asked = replies, []

    def generate(self, requests):
        self.asked.extend(requests)
        return [self.replies[int(r.seed)](r) for r in requests]

    def close(self):
        pass


def reply(final, status="complete", finish="stop", error=None):
    return lambda r: Completion(id=r.id, final=final, status=status, finish_reason=finish, error=error,
                                completion_tokens=len(final.split()))


def test_split_reply_reads_the_last_final_answer_line():
    assert split_reply("Step 1.\n**Final answer:** Pneumonia\n") == ("Step 1.", "Pneumonia")
    assert split_reply("no answer here") == ("no answer here", "")


def test_traces_keep_only_gold_reaching_replies_and_resume(finetune_jsonl, tmp_path, toy_mlx_dir):
    cases = load_cases(finetune_jsonl, limit=7)
    gold = [c.gold for c in cases]
    teacher = ScriptedTeacher({
        0: reply(f"{REASONING}\nFinal answer: {gold[0].upper()}."),            # normalized match: kept
        1: reply(f"{REASONING}\nFinal answer: Something else"),
        2: reply(REASONING),
        3: reply(f"{REASONING}\nFinal answer: {gold[3]}", status="truncated", finish="length"),
        4: reply(f"Short.\nFinal answer: {gold[4]}"),
        5: reply(f"We are told the answer. {REASONING}\nFinal answer: {gold[5]}"),
        6: reply("", status="error", finish="error", error="connection reset"),
    })
    out = tmp_path / "traces.jsonl"
    counts = generate_traces(cases, teacher, out, chunk=3, limits=TraceLimits(min_chars=100), progress=False)
    assert counts["accepted"] == 1 and counts["rejected"] == 6
    # the teacher saw the case, the options and the gold
    text = teacher.asked[0].messages[-1]["content"]
    assert cases[0].case in text and f"- {cases[0].options[1]}" in text and f"is: {gold[0]}" in text
    records = {r["source"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records[0]["accepted"] and records[0]["reasoning"] == REASONING.strip()
    reasons = {s: records[s]["reason"] for s in range(1, 7)}
    assert reasons == {1: "final answer is not the gold diagnosis", 2: "no 'Final answer:' line",
                       3: "truncated (max tokens)", 4: "reasoning shorter than 100 characters",
                       5: "reasoning refers to the answer having been provided", 6: "error: connection reset"}
    # a rerun asks only about the case that failed with a backend error
    teacher.asked.clear()
    teacher.replies[6] = reply(f"{REASONING}\nFinal answer: {gold[6]}")
    again = generate_traces(cases, teacher, out, limits=TraceLimits(min_chars=100), progress=False)
    assert [int(r.seed) for r in teacher.asked] == [6] and again["accepted"] == 1 and again["skipped"] == 6

    from mlxclin.finetune.prepare import prepare
    from mlxclin.vocab import harmony_encoding

    result = prepare(finetune_jsonl, toy_mlx_dir, tmp_path / "data", valid_fraction=0.0, limit=7, leakage=False,
                     traces=str(out), echo=lambda *_: None)
    assert result.with_trace == 2
    first = json.loads((tmp_path / "data" / "train.jsonl").read_text().splitlines()[0])
    trained = harmony_encoding().decode([i for i, m in zip(first["ids"], first["mask"]) if m])
    assert trained.startswith("<|channel|>analysis<|message|>" + REASONING.strip())


def test_traces_cli_with_the_toy_teacher(run_mlxclin, finetune_jsonl, toy_mlx_dir, tmp_path):
    out = tmp_path / "traces.jsonl"
    args = ["traces", "--data", finetune_jsonl, "--model", toy_mlx_dir, "--out", out, "--limit", 2,
            "--max-tokens", 8, "--effort", "low", "--quiet"]
    result = run_mlxclin(*args)
    assert result.exit_code == 0, result.stderr
    # an untrained toy writes gibberish: every case is rejected, with a reason
    assert "0 accepted, 2 rejected" in result.stdout and "rejected: " in result.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2 and all(not r["accepted"] and r["reason"] for r in records)
    assert run_mlxclin(*args).stdout.startswith(f"traces -> {out}: 0 accepted, 0 rejected, 2 already done")
    bad = run_mlxclin("traces", "--data", finetune_jsonl, "--model", tmp_path, "--out", out)
    assert bad.exit_code == 2 and "not a model folder" in bad.stderr
