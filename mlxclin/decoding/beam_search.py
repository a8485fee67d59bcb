"""Diverse (group) beam search on any mlx-lm model, token-identical to transformers' `_group_beam_search`.

The prompt is prefilled once (batch 1); the first step's candidates all come from that one row, and the cache is
then broadcast to the beams by the same row selection that reorders beams later. Each step runs one batched
forward pass over the beams of the groups still searching (finished groups drop out of the batch), takes each
beam's top tokens on the device, and hands them to `GroupBeamState` (numpy) for the group-by-group selection.
Memory stays near weights + live beams x KV: the cache is reordered in place layer by layer, never kept per step.
"""

import time
from dataclasses import dataclass, field
from typing import Optional

import mlx.core as mx
import numpy as np

from mlxclin.decoding.caches import check_reorderable, select_rows, trim_sliding_windows
from mlxclin.decoding.groups import EarlyStopping, GroupBeamState, Hypothesis, candidates_per_row
from mlxclin.errors import MlxclinError


@dataclass(frozen=True)
class BeamSettings:
    """The knobs of diverse beam search (names and meaning as in transformers' GenerationConfig)."""

    num_beams: int = 13
    num_beam_groups: int = 13
    diversity_penalty: float = 0.5
    length_penalty: float = 1.0
    early_stopping: EarlyStopping = True
    max_tokens: int = 3000

    def __post_init__(self):
        if self.num_beams < 1:
            raise MlxclinError(f"--beams must be at least 1 (got {self.num_beams})")
        if self.num_beam_groups < 1 or self.num_beams % self.num_beam_groups:
            raise MlxclinError(f"--beam-groups must divide --beams (got {self.num_beam_groups} groups for "
                               f"{self.num_beams} beams)")
        if self.diversity_penalty < 0:
            raise MlxclinError(f"--diversity-penalty must be >= 0 (got {self.diversity_penalty})")
        if self.early_stopping not in (True, False, "never"):
            raise MlxclinError(f"early_stopping must be true, false or \"never\" (got {self.early_stopping!r})")
        if self.max_tokens < 1:
            raise MlxclinError(f"--max-tokens must be at least 1 (got {self.max_tokens})")


@dataclass
class BeamSearchResult:
    beams: list                       # Hypothesis objects, best score first (num_beams of them)
    prompt_tokens: int
    steps: int                        # decoding steps run (<= max_tokens)
    generated_tokens: int             # tokens computed over all live beams (the throughput numerator)
    prefill_s: float
    decode_s: float
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> Optional[float]:
        return self.generated_tokens / self.decode_s if self.decode_s > 0 else None


def prefill(model, prompt: list, cache: list, step_size: int = 2048) -> mx.array:
    """Run the prompt through the model in chunks; returns the logits of the next token, [1, 1, V].

    All but the last token only fill the cache (their logits are never evaluated, so never computed); the last
    token runs alone, so no [chunk, vocabulary] logits tensor is ever materialised."""
    if not prompt:
        raise MlxclinError("beam search needs a non-empty prompt")
    for start in range(0, len(prompt) - 1, step_size):
        model(mx.array(prompt[start:min(start + step_size, len(prompt) - 1)])[None], cache=cache)
        mx.eval([c.state for c in cache])
    logits = model(mx.array(prompt[-1:])[None], cache=cache)
    mx.eval(logits)
    return logits


def top_candidates(logits: mx.array, per_row: int, block: int = 256) -> tuple:
    """Each row's `per_row` most likely next tokens and their float32 log-probs, as numpy (one device sync).

    logits: [B, L, V]; the last position is used. The log-softmax normaliser is summed in blocks: a flat float32
    sum over a 200k vocabulary (MLX's CPU reduction) drifts by ~2e-4, enough to shift beam scores visibly. Only
    the selected entries are normalised; the full [B, V] log-prob array is never built."""
    last = logits[:, -1, :].astype(mx.float32)
    shifted = last - mx.max(last, axis=-1, keepdims=True)
    exp = mx.exp(shifted)
    pad = -exp.shape[-1] % block
    if pad:
        exp = mx.concatenate([exp, mx.zeros((exp.shape[0], pad), dtype=exp.dtype)], axis=-1)
    log_total = mx.log(exp.reshape(exp.shape[0], -1, block).sum(axis=-1).sum(axis=-1, keepdims=True))
    per_row = min(per_row, last.shape[-1])
    tokens = mx.argpartition(-shifted, kth=per_row - 1, axis=-1)[:, :per_row]
    values = mx.take_along_axis(shifted, tokens, axis=-1) - log_total
    mx.eval(tokens, values)
    return np.array(tokens).astype(np.int64), np.array(values)


def beam_search(model, prompt: list, settings: BeamSettings, eos_ids, pad_id: int, cache: Optional[list] = None,
                prefill_step_size: int = 2048) -> BeamSearchResult:
    """Diverse beam search from `prompt` (token ids). `cache`: an empty mlx-lm cache (default: the model's own)."""
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model) if cache is None else cache
    check_reorderable(cache)
    eos_ids = tuple(int(t) for t in eos_ids)
    state = GroupBeamState(settings.num_beams, settings.num_beam_groups,
                           settings.diversity_penalty if settings.num_beam_groups > 1 else 0.0,
                           settings.length_penalty, settings.early_stopping, settings.max_tokens, eos_ids, pad_id)
    per_row = candidates_per_row(settings.num_beams, state.group_size, len(eos_ids))
    start = time.perf_counter()
    logits = prefill(model, prompt, cache, prefill_step_size)
    trim_sliding_windows(cache)
    prefill_s = time.perf_counter() - start
    row_of_beam = np.zeros(settings.num_beams, dtype=np.int64)  # which logits/cache row holds each beam
    n_rows = 1                                                # cache rows (after the prefill: the prompt's one)
    generated = 0
    while True:
        tokens, values = top_candidates(logits, per_row)
        generated += len(state.live_beams())
        parents = state.step(tokens[row_of_beam], values[row_of_beam])
        if state.finished or state.generated >= settings.max_tokens:
            break
        live = state.live_beams()
        rows = [int(row_of_beam[parents[b]]) for b in live]
        if rows != list(range(n_rows)):  # identity (e.g. one beam per group): nothing moves
            select_rows(cache, rows)
        n_rows = len(live)
        row_of_beam[:] = 0  # rows of finished groups are never read again
        row_of_beam[live] = np.arange(len(live))
        step_tokens = mx.array([state.tokens[b][-1] for b in live], dtype=mx.int32)[:, None]
        logits = model(step_tokens, cache=cache)
    decode_s = time.perf_counter() - start - prefill_s
    return BeamSearchResult(state.finalize(), len(prompt), state.generated, generated, prefill_s, decode_s)


def beam_record(hyp: Hypothesis) -> dict:
    """One beam as stored in samples.jsonl (the answer is added by whoever parses it)."""
    return {"score": hyp.score, "tokens": hyp.tokens, "stopped": hyp.stopped,
            "mean_logprob": float(np.mean(hyp.logprobs)) if hyp.logprobs else None}
