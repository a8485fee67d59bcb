"""The bookkeeping of diverse (group) beam search, in numpy, independent of any model.

It follows Vijayakumar et al. (2016) exactly as transformers' `_group_beam_search` (<= 4.56) with
`HammingDiversityLogitsProcessor` and `BeamSearchScorer` implement it, so that results are token-identical:

- groups are expanded in order; group g's log-probabilities are lowered by `penalty x (times the token was chosen
  at this step by groups 0..g-1)`; a finished group still "chooses" the pad token at every step, which counts;
- the penalised log-probabilities accumulate into the beam scores; within a group, the top
  `max(2, 1 + n_eos) x group_size` candidates are walked best first: an EOS candidate ranked < group_size becomes a
  finished hypothesis (score sum / generated_len ** length_penalty, EOS counted in the length), any other candidate
  continues as a beam until the group has group_size beams;
- a group is done when its hypotheses are final (`early_stopping`); at the end, groups still running add their
  live beams as hypotheses, and all hypotheses are returned best score first.

Candidates come in as each live beam's top-M tokens by unpenalised log-prob (M = k + num_beams, see
`candidates_per_row`): the penalty only lowers at most num_beams tokens, so the group's top k over the full
vocabulary always lies within those lists. Ties are broken by the flat (beam, token) index, lowest first.
"""

from dataclasses import dataclass, field
from typing import Union

import numpy as np

EarlyStopping = Union[bool, str]  # True, False or "never", as in transformers


@dataclass
class Hypothesis:
    score: float            # sum of penalised log-probs / generated_len ** length_penalty
    tokens: list            # generated token ids; ends with the EOS id when `stopped`
    logprobs: list          # unpenalised log-prob of each generated token (for the mean-log-prob vote)
    stopped: bool           # ended on an EOS token (rather than on max_tokens)


class GroupHypotheses:
    """The best `size` finished hypotheses of one group (transformers' BeamHypotheses, same eviction rule)."""

    def __init__(self, size: int, length_penalty: float, early_stopping: EarlyStopping, max_new_tokens: int):
        self.size, self.length_penalty = size, length_penalty
        self.early_stopping, self.max_new_tokens = early_stopping, max_new_tokens
        self.kept: list = []
        self.worst_score = 1e9

    def add(self, sum_score: float, generated_len: int, tokens: list, logprobs: list, stopped: bool) -> None:
        score = sum_score / (generated_len ** self.length_penalty)
        if len(self.kept) < self.size or score > self.worst_score:
            self.kept.append(Hypothesis(score, tokens, logprobs, stopped))
            if len(self.kept) > self.size:
                ranked = sorted((h.score, i) for i, h in enumerate(self.kept))
                del self.kept[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_score: float, generated_len: int) -> bool:
        if len(self.kept) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False or self.length_penalty <= 0:
            best = best_sum_score / generated_len ** self.length_penalty
        else:  # "never": the best a live beam could still reach, at max length
            best = best_sum_score / self.max_new_tokens ** self.length_penalty
        return self.worst_score >= best


def candidates_per_row(num_beams: int, group_size: int, n_eos: int) -> int:
    """How many top tokens per live beam the step needs: the group's top k plus every token the penalty can hit."""
    return max(2, 1 + n_eos) * group_size + num_beams


@dataclass
class GroupBeamState:
    """Beams, scores and finished hypotheses of one group beam search; `step` advances it by one token."""

    num_beams: int
    num_groups: int
    diversity_penalty: float
    length_penalty: float
    early_stopping: EarlyStopping
    max_new_tokens: int
    eos_ids: tuple
    pad_id: int
    tokens: list = field(init=False)      # per beam: generated ids so far
    logprobs: list = field(init=False)    # per beam: unpenalised log-prob of each generated id
    scores: np.ndarray = field(init=False)
    done: list = field(init=False)
    hyps: list = field(init=False)
    generated: int = 0

    def __post_init__(self):
        self.group_size = self.num_beams // self.num_groups
        self.tokens = [[] for _ in range(self.num_beams)]
        self.logprobs = [[] for _ in range(self.num_beams)]
        # only the first beam of each group starts live, so a group's beams do not all pick the same token
        self.scores = np.full(self.num_beams, -1e9, dtype=np.float32)
        self.scores[:: self.group_size] = 0
        self.done = [False] * self.num_groups
        self.hyps = [GroupHypotheses(self.group_size, self.length_penalty, self.early_stopping,
                                     self.max_new_tokens) for _ in range(self.num_groups)]
        self._eos = set(self.eos_ids)
        self._top_k = max(2, 1 + len(self.eos_ids)) * self.group_size

    @property
    def finished(self) -> bool:
        return all(self.done)

    def live_beams(self) -> list:
        """Global indices of the beams of groups still searching (the rows the next forward pass needs)."""
        return [b for g in range(self.num_groups) if not self.done[g]
                for b in range(g * self.group_size, (g + 1) * self.group_size)]

    def step(self, cand_tokens: np.ndarray, cand_logprobs: np.ndarray) -> np.ndarray:
        """Advance every group by one token. cand_*: [num_beams, M] top tokens of each beam (rows of done groups
        are ignored). Returns each beam's parent (global beam index) for the cache reorder."""
        chosen = np.full(self.num_beams, self.pad_id, dtype=np.int64)  # this step's tokens, for the penalty
        parents = np.arange(self.num_beams)
        new_tokens, new_logprobs = list(self.tokens), list(self.logprobs)
        for g in range(self.num_groups):
            lo, hi = g * self.group_size, (g + 1) * self.group_size
            if self.done[g]:
                self.scores[lo:hi] = 0
                parents[lo:hi] = lo
                continue
            penalised = cand_logprobs[lo:hi].astype(np.float32)
            if self.diversity_penalty > 0 and lo > 0:
                counts = np.bincount(chosen[:lo], minlength=int(cand_tokens[lo:hi].max()) + 1)
                penalised = penalised - np.float32(self.diversity_penalty) * counts[cand_tokens[lo:hi]].astype(
                    np.float32)
            total = (penalised + self.scores[lo:hi, None]).astype(np.float32)
            ranked = self._rank(cand_tokens[lo:hi], total)
            kept = self._walk(g, ranked, cand_tokens[lo:hi], cand_logprobs[lo:hi], total)
            for j, (row, col) in enumerate(kept):
                beam, parent = lo + j, lo + row
                chosen[beam] = cand_tokens[lo + row, col]
                parents[beam] = parent
                self.scores[beam] = total[row, col]
                new_tokens[beam] = self.tokens[parent] + [int(chosen[beam])]
                new_logprobs[beam] = self.logprobs[parent] + [float(cand_logprobs[lo + row, col])]
            best = float(total.flat[ranked[0]])
            self.done[g] = self.done[g] or self.hyps[g].is_done(best, self.generated + 1)
        self.tokens, self.logprobs = new_tokens, new_logprobs
        self.generated += 1
        return parents

    def _rank(self, tokens: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Flat positions of the group's top-k candidates, best first, ties to the lowest (beam, token)."""
        rows = np.arange(tokens.shape[0])[:, None]
        flat_id = (rows * (int(tokens.max()) + 1) + tokens).ravel()
        order = np.lexsort((flat_id, -total.ravel().astype(np.float64)))
        # the same (beam, token) can only appear once per row list, so the order is total
        return order[: self._top_k]

    def _walk(self, g: int, ranked: np.ndarray, tokens: np.ndarray, logprobs: np.ndarray, total: np.ndarray):
        """Walk the ranked candidates: EOS ones become hypotheses, the others the group's next beams."""
        lo, width = g * self.group_size, tokens.shape[1]
        kept = []
        for rank, flat in enumerate(ranked):
            row, col = divmod(int(flat), width)
            token = int(tokens[row, col])
            if token in self._eos:
                if rank >= self.group_size:
                    continue
                parent = lo + row
                self.hyps[g].add(float(total[row, col]), self.generated + 1, self.tokens[parent] + [token],
                                 self.logprobs[parent] + [float(logprobs[row, col])], stopped=True)
            else:
                kept.append((row, col))
            if len(kept) == self.group_size:
                return kept
        raise ValueError(f"group {g}: fewer than {self.group_size} non-EOS candidates among the top {len(ranked)}")

    def finalize(self) -> list:
        """All groups' hypotheses, best first (groups still running contribute their live beams)."""
        for g in range(self.num_groups):
            if self.done[g]:
                continue
            for beam in range(g * self.group_size, (g + 1) * self.group_size):
                self.hyps[g].add(float(self.scores[beam]), len(self.tokens[beam]), self.tokens[beam],
                                 self.logprobs[beam], stopped=False)
        pool = [h for group in self.hyps for h in group.kept]
        # transformers sorts ascending (stable) and pops from the end: equal scores come out last-added first
        return list(reversed(sorted(pool, key=lambda h: h.score)))
