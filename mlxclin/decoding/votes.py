"""Votes over the answers extracted from one request's beams (beams ordered best score first).

majority          the study's protocol: the most frequent answer wins; ties go to the answer whose first beam is
                  earliest (i.e. highest-scoring); an empty extraction is an answer like any other and can win
                  (the task then scores it wrong).
logprob-fallback  the variant in the study's code: the majority answer when at least half of the beams agree,
                  otherwise the answer of the beam with the highest mean token log-prob.
Text answers are compared after `normalize_text` (case, spacing, punctuation, mojibake), as the tasks score
them; letter lists as sets; the winning answer is returned as its first beam wrote it.
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from mlxclin.errors import MlxclinError
from mlxclin.text import normalize_text


def answer_key(answer) -> object:
    """What two answers must share to count as the same vote (None and "" are the same empty answer)."""
    if answer is None or isinstance(answer, str):
        return normalize_text(answer or "")
    if isinstance(answer, (list, tuple, set)):
        return tuple(sorted(str(a) for a in answer))
    return repr(answer)


@dataclass(frozen=True)
class Vote:
    answer: Any       # the winning answer, as the beam `beam` wrote it
    beam: int         # index (best score first) of the beam the answer is taken from
    count: int        # beams whose answer equals it after normalisation
    total: int        # beams that voted
    rule: str         # "majority" or "logprob" (which rule decided)


def majority_vote(answers: Sequence[str], key: Callable = answer_key) -> Vote:
    if not answers:
        raise MlxclinError("a vote needs at least one beam answer")
    counts, first = {}, {}
    for i, answer in enumerate(answers):
        k = key(answer)
        counts[k] = counts.get(k, 0) + 1
        first.setdefault(k, i)
    winner = max(counts, key=lambda k: (counts[k], -first[k]))
    return Vote(answers[first[winner]], first[winner], counts[winner], len(answers), "majority")


def logprob_fallback_vote(answers: Sequence[str], mean_logprobs: Sequence[Optional[float]],
                          key: Callable = answer_key) -> Vote:
    if len(mean_logprobs) != len(answers):
        raise MlxclinError(f"logprob-fallback vote: {len(answers)} answers but {len(mean_logprobs)} log-probs")
    if any(lp is None for lp in mean_logprobs):
        raise MlxclinError("logprob-fallback vote: a beam has no mean log-prob (empty beam?)")
    vote = majority_vote(answers, key)
    if 2 * vote.count >= vote.total:
        return vote
    best = -max((lp, -i) for i, lp in enumerate(mean_logprobs))[1]  # highest mean log-prob; equal ones go to the earlier beam
    count = sum(key(a) == key(answers[best]) for a in answers)
    return Vote(answers[best], best, count, len(answers), "logprob")


VOTES = ("majority", "logprob-fallback")


def vote(rule: str, answers: Sequence[str], mean_logprobs: Optional[Sequence] = None) -> Vote:
    """Apply the vote named by --vote."""
    if rule == "majority":
        return majority_vote(answers)
    if rule == "logprob-fallback":
        return logprob_fallback_vote(answers, mean_logprobs or [None] * len(answers))
    raise MlxclinError(f"--vote must be one of {', '.join(VOTES)} (got {rule!r})")
