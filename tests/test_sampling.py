"""The per-request sampler (mlxclin.decoding.sampling): presence penalty, temperature, top_k, top_p and min_p
against transformers' logits warpers on fixed logits; draws that follow the filtered distribution; the presence
penalty over generated tokens only, inside mlx-lm's BatchGenerator; the same outputs at batch sizes 1 and 4."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_model import VOCAB, FakeTokenizer, FixedCostModel  # noqa: E402

from mlxclin.backends.base import Request  # noqa: E402

PROMPT = [5, 9, 5, 11]          # token ids of a prompt; 5 and 11 are not generated below
GENERATED = [3, 7, 3, 3, 9]     # 3 three times, 9 also in the prompt


def _logits(vocab: int = 64, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(1, vocab)) * 2.0).astype(np.float32)


def _penalised_after_steps(sampler, logits):
    """What the sampler's step 1 gives once it has generated GENERATED after PROMPT (one call per step)."""
    import mlx.core as mx

    for i in range(len(GENERATED) + 1):
        out = sampler.penalised(mx.array(PROMPT + GENERATED[:i]), mx.array(logits))
    return np.array(out)


def test_presence_penalty_is_once_per_generated_token_and_never_the_prompts():
    from mlxclin.decoding.sampling import RequestSampler

    logits = _logits()
    out = _penalised_after_steps(RequestSampler(0, presence_penalty=1.5), logits)
    expected = logits.copy()
    expected[0, sorted(set(GENERATED))] -= 1.5   # by hand: each generated id once, whatever its count
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    assert out[0, 5] == logits[0, 5] and out[0, 11] == logits[0, 11]   # prompt-only tokens untouched


@pytest.mark.parametrize("temperature,top_k,top_p,min_p,penalty", [
    (1.0, 20, 0.95, 0.0, 1.5),     # Qwen3.5's card (thinking)
    (1.0, 64, 0.95, 0.0, 0.0),     # Gemma 4's card
    (0.7, 10, 0.8, 0.05, 0.5),     # all four filters, temperature below 1: order matters
    (1.3, 0, 0.9, 0.1, 0.0),       # top_k off
    (0.5, 5, 1.0, 0.0, -1.0),      # top_p off, a negative penalty
    (1.0, 3, 0.5, 0.0, 0.0),       # top_p inside top_k's set: renormalised after top_k
])
def test_filters_match_transformers_warpers(temperature, top_k, top_p, min_p, penalty):
    torch = pytest.importorskip("torch")
    from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper,
                                                        TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)
    import mlx.core as mx

    from mlxclin.decoding.sampling import RequestSampler

    logits = _logits(seed=top_k + 7)
    sampler = RequestSampler(0, temperature, top_p, top_k, min_p, presence_penalty=penalty)
    ours = np.array(sampler.filtered(mx.array(_penalised_after_steps(sampler, logits))))
    # the reference: the penalty by hand, then transformers' default warper order
    scores = torch.tensor(logits)
    scores[0, sorted(set(GENERATED))] -= penalty
    warpers = [TemperatureLogitsWarper(temperature)] + ([TopKLogitsWarper(top_k)] if top_k else []) + \
        ([TopPLogitsWarper(top_p)] if top_p < 1 else []) + ([MinPLogitsWarper(min_p)] if min_p else [])
    ref = LogitsProcessorList(warpers)(torch.zeros((1, 1), dtype=torch.long), scores)
    kept = np.isfinite(ours)
    np.testing.assert_array_equal(kept, np.isfinite(ref.numpy()))
    assert 0 < kept.sum() < logits.shape[1]      # something was filtered, something is left
    probs = np.exp(ours - np.logaddexp.reduce(ours[kept]))
    np.testing.assert_allclose(probs, torch.softmax(ref, dim=-1).numpy(), rtol=0, atol=1e-6)


def test_draws_follow_the_filtered_distribution():
    """Gumbel-max over the filtered log-probabilities: 40,000 draws (one call, one row each) match the
    renormalised probabilities, and a filtered token is never drawn."""
    import mlx.core as mx

    from mlxclin.decoding.sampling import RequestSampler

    logits = _logits(vocab=12, seed=3) * 0.4   # flat enough that several tokens survive the filters
    sampler = RequestSampler(123, temperature=0.8, top_p=0.9, top_k=6, min_p=0.05)
    filtered = np.array(sampler.filtered(mx.array(logits)))[0]
    draws = np.array(mx.argmax(sampler(mx.array([1]), mx.broadcast_to(mx.array(logits), (40000, 12))), axis=-1))
    counts = np.bincount(draws, minlength=12) / len(draws)
    probs = np.exp(filtered - np.logaddexp.reduce(filtered[np.isfinite(filtered)]))
    assert counts[~np.isfinite(filtered)].sum() == 0 and np.isfinite(filtered).sum() >= 3
    assert np.abs(counts - probs).max() < 0.01   # 4 standard errors at p = 0.5


# --- inside mlx-lm's BatchGenerator -----------------------------------------------------------------------------------

PREFERRED = 3


class PreferenceModel(FixedCostModel):
    """Always the same next-token logits: token 3 first, then 4, 5, ... (0.1 apart)."""

    def __init__(self):
        super().__init__(call_s=0.0, token_s=0.0)

    def __call__(self, inputs, cache=None, **_):
        import mlx.core as mx

        super().__call__(inputs, cache)
        batch, length = inputs.shape
        preference = -0.1 * ((mx.arange(VOCAB) - PREFERRED) % VOCAB).astype(mx.float32)
        return mx.broadcast_to(preference, (batch, length, VOCAB))


class PreferenceTokenizer(FakeTokenizer):
    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        n = int(messages[-1]["content"])
        return [PREFERRED] * n + [100 + n]    # every prompt holds the preferred token, n times


def test_batch_generator_hands_processors_the_uncached_prompt_then_the_generated_tokens():
    """The contract RequestSampler relies on: at its n-th call, the last n tokens are the ones generated so far."""
    from mlx_lm.generate import BatchGenerator

    seen = {0: [], 1: []}
    prompts = [[7, 8, 9, 10], [20, 21]]
    gen = BatchGenerator(PreferenceModel(), stop_tokens=[[VOCAB - 1]], completion_batch_size=2)

    def recorder(key):
        def processor(tokens, logits):
            seen[key].append(tokens.tolist())
            return logits
        return processor

    uids = gen.insert(prompts, [4, 4], logits_processors=[[recorder(0)], [recorder(1)]])
    out = {uid: [] for uid in uids}
    while any(len(v) < 4 for v in out.values()):
        for r in gen.next()[1]:
            out[r.uid].append(r.token)
    for key, uid in enumerate(uids):   # (mlx-lm may already have started the step after the last token)
        assert seen[key][:4] == [prompts[key] + out[uid][:n] for n in range(4)]


def _fake_backend(batch_size: int):
    from mlxclin.backends.mlx import MLXBackend

    return MLXBackend("fake", batch_size=batch_size, prefix_cache=False,
                      loaded=(PreferenceModel(), PreferenceTokenizer(), {"model_type": "fake"}))


@pytest.mark.parametrize("batch_size", [1, 4])
def test_greedy_presence_penalty_skips_the_prompt_at_any_batch_size(batch_size):
    requests = [Request(id=f"r{n}-{pen}", messages=[{"role": "user", "content": str(n)}], max_tokens=5,
                        temperature=0.0, presence_penalty=pen, seed=n) for n in (1, 2, 3, 6) for pen in (0.0, 1.0)]
    texts = {c.id: c.text for c in _fake_backend(batch_size).generate(requests)}
    for n in (1, 2, 3, 6):
        assert texts[f"r{n}-0.0"] == "3 3 3 3 3"   # no penalty: the preferred token every time
        # penalty 1.0 > the 0.1 gaps: each generated token is passed over once used; the prompt's many 3s are not
        # penalised, so the first token is still 3
        assert texts[f"r{n}-1.0"] == "3 4 5 6 7"


def _toy_requests(n: int, seed0: int = 0, **sampling) -> list:
    return [Request(id=f"q{i}", messages=[{"role": "system", "content": "Answer with one diagnosis."},
                                          {"role": "user", "content": f"Case {i}: " + "cough and fever. " * (i % 4)}],
                    effort="low", max_tokens=6 + i % 3, seed=seed0 + 17 * i, prefix_key="case", **sampling)
            for i in range(n)]


@pytest.mark.slow
def test_filtered_sampling_is_token_identical_at_batch_1_and_4(toy_mlx_dir):
    from mlxclin.backends.mlx import MLXBackend

    settings = {"temperature": 0.8, "top_k": 20, "top_p": 0.9, "min_p": 0.05, "presence_penalty": 1.5}
    backend = MLXBackend(toy_mlx_dir)
    texts = {}
    for size in (1, 4):
        backend.batch_size = size
        texts[size] = [c.text for c in backend.generate(_toy_requests(6, **settings))]
    assert texts[1] == texts[4]
    plain = [c.text for c in backend.generate(_toy_requests(6, temperature=0.8))]
    assert plain != texts[4]   # the filters and the penalty changed what was drawn
    backend.close()
