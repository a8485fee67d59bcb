"""The group beam search state machine on hand-made candidates (no model): the Hamming penalty, the EOS rank rule,
a finished group still voting with the pad token, and the final best-first order."""

import numpy as np
import pytest

from mlxclin.decoding.groups import GroupBeamState, GroupHypotheses


def state(beams, groups, penalty=0.5, eos=(9,), pad=3, max_new=5, early_stopping=True):
    return GroupBeamState(beams, groups, penalty, 1.0, early_stopping, max_new, tuple(eos), pad)


def rows(n, tokens, logprobs):
    return np.array([tokens] * n, dtype=np.int64), np.array([logprobs] * n, dtype=np.float32)


def test_later_groups_pay_for_tokens_earlier_groups_chose():
    s = state(3, 3)
    parents = s.step(*rows(3, [5, 6, 7, 8], [-0.1, -0.3, -0.5, -2.0]))
    # group 0 takes 5; group 1: 5 costs -0.1 - 0.5 = -0.6 < -0.3, so 6; group 2: 5 -> -0.6, 6 -> -0.8, 7 -> -0.5
    assert [t for t in s.tokens] == [[5], [6], [7]]
    assert np.allclose(s.scores, [-0.1, -0.3, -0.5]) and list(parents) == [0, 1, 2]


def test_eos_only_counts_when_ranked_within_the_group_size():
    s = state(2, 1, penalty=0.0, eos=(9, 8))
    s.step(*rows(2, [9, 5, 8, 6, 7], [-0.05, -0.2, -0.25, -0.3, -3.0]))
    # rank 0 (9) is an EOS within the group size: a hypothesis; rank 2 (8) is an EOS ranked >= 2: skipped
    assert [h.tokens for h in s.hyps[0].kept] == [[9]] and s.hyps[0].kept[0].score == pytest.approx(-0.05)
    assert s.tokens == [[5], [6]] and not s.done[0]


def test_a_finished_group_keeps_voting_with_the_pad_token():
    s = state(2, 2, pad=3)
    s.step(np.array([[9, 5, 4, 3], [4, 5, 6, 7]]), np.array([[-0.05, -0.2, -0.3, -0.4]] * 2, dtype=np.float32))
    assert s.done == [True, False] and s.live_beams() == [1]
    s.step(np.array([[0, 0], [3, 4]]), np.array([[0, 0], [-0.1, -0.3]], dtype=np.float32))
    assert s.tokens[1][-1] == 4   # pad (3) was "chosen" by the finished group: -0.1 - 0.5 < -0.3


def test_finalize_returns_every_groups_hypotheses_best_first():
    s = state(4, 2, eos=(9,), max_new=2)
    s.step(*rows(4, [5, 6, 7, 8], [-0.1, -0.2, -0.3, -0.4]))
    s.step(*rows(4, [9, 6, 7, 8], [-0.5, -0.6, -0.7, -0.8]))
    beams = s.finalize()
    assert len(beams) == 4
    assert [b.score for b in beams] == sorted((b.score for b in beams), reverse=True)
    assert any(b.stopped and b.tokens[-1] == 9 for b in beams)


def test_hypotheses_keep_the_best_and_know_when_they_are_done():
    hyps = GroupHypotheses(2, 1.0, False, 10)
    hyps.add(-3.0, 3, [1, 2, 9], [-1.0] * 3, True)
    hyps.add(-1.0, 2, [1, 9], [-0.5] * 2, True)
    hyps.add(-0.9, 3, [4, 5, 9], [-0.3] * 3, True)   # -0.3 beats -1.0 (evicted)
    assert sorted(h.score for h in hyps.kept) == pytest.approx([-0.5, -0.3])
    assert hyps.is_done(best_sum_score=-6.0, generated_len=4)       # -1.5 cannot beat the worst kept (-0.5)
    assert not hyps.is_done(best_sum_score=-1.0, generated_len=4)   # -0.25 still could
