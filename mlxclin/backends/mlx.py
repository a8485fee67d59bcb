"""The local MLX backend: continuous batching on one long-lived mlx-lm `BatchGenerator`.

- Requests are inserted as soon as a slot frees up, so `batch_size` sequences decode at every step until the queue
  drains; each completion is yielded the moment it finishes. Prompts are prefilled one at a time, interleaved with
  the running batch's decode steps, and the next request is inserted once the previous one's prompt is done: so a
  request's TTFT is its own prefill (plus a decode step or two of its neighbours), and time spent waiting for a slot
  or for another prompt's prefill is its `queued_s`, not hidden in its TTFT.
- The prompt prefix shared by all requests with the same `prefix_key` (Harmony system + developer message + the
  task's instructions) is prefilled once per backend and handed to mlx-lm as each request's starting cache (merging
  copies it, so one cache serves every request). Its prefill time is charged to the request that triggered it.
- Sampling is reproducible per request: one shared argmax sampler runs on mlx-lm's batched path, and each sampled
  request's own logits processor (`mlxclin.decoding.sampling.RequestSampler`: presence penalty, temperature,
  top_k, top_p, min_p) adds Gumbel noise from a key made of its own seed, split once per step. The argmax is an
  exact draw from the filtered distribution, so a request's tokens depend on its prompt, settings and seed only,
  never on the batch it shares or where a resumed run split the work.
- Timing is per request, from its own insertion: TTFT, prefill tok/s over its own uncached prompt tokens, decode
  tok/s over its own token timestamps, latency; `queued_s` is the wait before insertion.
"""

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import mlx.core as mx

from mlxclin.backends.base import Completion, Request, StreamingBackend
from mlxclin.decoding.sampling import needs_sampler, request_sampler
from mlxclin.device import peak_memory_gb, reset_peak_memory, rss_gb

MIN_SHARED_PREFIX = 16  # tokens; shorter shared prefixes are not worth a cache entry


def common_prefix_length(sequences: list) -> int:
    first = sequences[0]
    n = min(len(s) for s in sequences)
    for i in range(n):
        if any(s[i] != first[i] for s in sequences):
            return i
    return n


@dataclass
class _Active:
    """A request in the generator: its prompt and its own clock."""
    request: Request
    ids: list
    cached: int
    queued_s: float
    start: float
    prefix_prefill_s: float = 0.0
    first: Optional[float] = None
    prefilling: bool = True      # until mlx-lm reports the end of its prompt
    tokens: list = field(default_factory=list)


class MLXBackend(StreamingBackend):
    name = "mlx"

    def __init__(self, model_path=None, adapter_path: Optional[str] = None, batch_size: int = 1,
                 prefix_cache: bool = True, prefill_step_size: int = 2048, loaded: Optional[tuple] = None):
        """`loaded` = (model, tokenizer, config) skips loading (tests and benchmarks bring their own model)."""
        if loaded is None:
            from mlxclin.models.gpt_oss import load

            loaded = load(model_path, adapter_path=adapter_path)
        self.model_path, self.adapter_path = str(model_path), adapter_path
        self.model, self.tokenizer, self.config = loaded
        self.harmony = self.config.get("model_type") == "gpt_oss"
        from mlxclin.models import families

        self.family = families.family_of(self.config)   # Qwen3.5 / Gemma 4: chat template, stops, parsing
        if self.harmony:
            from mlxclin.harmony import stop_token_ids

            # <|return|> and <|call|> end an assistant turn; <|end|> only closes the analysis message.
            # <|endoftext|> is kept from generation_config.json as a hard end.
            self.stop_ids = sorted(set(stop_token_ids()) | {199999})
        elif self.family is not None:
            self.stop_ids = families.stop_token_ids(self.tokenizer, self.family)
        else:
            self.stop_ids = sorted(self.tokenizer.eos_token_ids)
        self.tokenizer.eos_token_ids = set(self.stop_ids)
        self.batch_size = max(1, batch_size)
        self.prefill_step_size = prefill_step_size
        self.prefix_cache = prefix_cache
        self.prefixes = {}          # prefix_key -> (prefix ids, prompt cache): prefilled once, reused
        self.prefix_prefills = 0    # how many prefixes were prefilled (tests count them)
        self._generator = None
        self.format = "harmony" if self.harmony else self.family.name if self.family else "chat_template"

    # --- prompts ---------------------------------------------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list:
        if self.harmony:
            from mlxclin.harmony import render_prompt

            return render_prompt(request.messages, request.effort)
        if self.family is not None:  # the family's chat template with its thinking switch
            from mlxclin.models.families import render_prompt as render_family_prompt

            return render_family_prompt(self.tokenizer, self.family, request.messages, request.effort)
        return list(self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True,
                                                       tokenize=True))

    def _plan_prefixes(self, prompts: dict, requests: list) -> dict:
        """prefix_key -> prefix ids shared by every prompt of that key (not yet prefilled ones only)."""
        groups = {}
        for r in requests:
            groups.setdefault(r.prefix_key, []).append(prompts[r.id])
        planned = {}
        for key, ids in groups.items():
            if key in self.prefixes:
                continue
            shared = min(common_prefix_length(ids), min(len(i) for i in ids) - 1)
            if len(ids) > 1 and shared >= MIN_SHARED_PREFIX:
                planned[key] = ids[0][:shared]
        return planned

    def _prefill_prefix(self, key: str, prefix: list) -> None:
        from mlx_lm.models.cache import make_prompt_cache

        cache = make_prompt_cache(self.model)
        for i in range(0, len(prefix), self.prefill_step_size):
            self.model(mx.array(prefix[i:i + self.prefill_step_size])[None], cache=cache)
            mx.eval([c.state for c in cache])
        self.prefixes[key] = (prefix, cache)
        self.prefix_prefills += 1

    # --- the generator ---------------------------------------------------------------------------------------------
    def _batch_generator(self):
        from mlx_lm.generate import BatchGenerator

        gen = self._generator
        if gen is None or gen.completion_batch_size != self.batch_size:
            if gen is not None:
                gen.close()
            gen = self._generator = BatchGenerator(
                self.model, stop_tokens=[[t] for t in self.stop_ids], completion_batch_size=self.batch_size,
                prefill_batch_size=1, prefill_step_size=self.prefill_step_size)
        return gen

    def _insert(self, gen, request: Request, ids: list, planned: dict, t0: float) -> tuple:
        """Put one request into the generator; returns (uid, its _Active record)."""
        start = time.perf_counter()
        key = request.prefix_key
        prefill_s = 0.0
        if key in planned and key not in self.prefixes:
            self._prefill_prefix(key, planned[key])
            prefill_s = time.perf_counter() - start
        prefix, cache = self.prefixes.get(key, ((), None))
        if cache is not None and list(ids[:len(prefix)]) != list(prefix):
            prefix, cache = (), None  # a prompt outside its group's prefix: prefill it whole
        processors = []
        if needs_sampler(request):
            seed = request.seed if request.seed is not None else int.from_bytes(os.urandom(7), "big")
            processors = [request_sampler(request, seed)]
        (uid,) = gen.insert([ids[len(prefix):]], [request.max_tokens],
                            caches=[list(cache)] if cache is not None else None, logits_processors=[processors])
        return uid, _Active(request, ids, len(prefix), start - t0, start, prefill_s)

    def stream(self, requests: list, on_token=None):
        """Yield each request's Completion as soon as it finishes (continuous batching). `on_token(request, id)`,
        if given, sees every generated token as it is sampled (not a closing stop token): for streaming output."""
        if not requests:
            return
        prompts = {r.id: self.prompt_ids(r) for r in requests}
        planned = self._plan_prefixes(prompts, requests) if self.prefix_cache else {}
        gen = self._batch_generator()
        queue, active = deque(requests), {}
        t0 = time.perf_counter()
        reset_peak_memory()
        try:
            while queue or active:
                if queue and len(active) < self.batch_size and not any(a.prefilling for a in active.values()):
                    request = queue.popleft()
                    uid, record = self._insert(gen, request, prompts[request.id], planned, t0)
                    active[uid] = record
                call_start = time.perf_counter()
                with gen.stats() as step:
                    prompt_responses, responses = gen.next()
                # mlx-lm decodes first, then prefills the next prompt in the same call: tokens are stamped when
                # their decode step finished, not after a neighbour's prefill that merely delayed their return
                now = call_start + step.decode_time
                for r in prompt_responses:
                    if r.end_of_prompt and r.uid in active:
                        active[r.uid].prefilling = False
                for r in responses:
                    a = active[r.uid]
                    a.first = now if a.first is None else a.first
                    a.tokens.append(r.token)  # the stop token is kept: Harmony parsing wants to see it
                    if on_token is not None and not (r.finish_reason == "stop" and r.token in self.stop_ids):
                        on_token(a.request, r.token)
                    if r.finish_reason is not None:
                        del active[r.uid]
                        yield self._finished(a, r.finish_reason, now)
        finally:
            if active:  # the consumer stopped early (Ctrl-C, an error): free the generator's slots
                gen.remove(list(active))

    # --- completions -----------------------------------------------------------------------------------------------
    def _finished(self, a: _Active, finish: str, now: float) -> Completion:
        n = len(a.tokens) - (finish == "stop")
        ttft, decode_s = a.first - a.start, now - a.first
        timing = {"queued_s": a.queued_s, "ttft_s": ttft, "latency_s": now - a.start,
                  "prefill_tps": (len(a.ids) - a.cached) / ttft if ttft > 0 else None,
                  "decode_tps": (n - 1) / decode_s if n > 1 and decode_s > 0 else None,
                  "peak_memory_gb": peak_memory_gb(), "cached_prompt_tokens": a.cached}
        completion = self._completion(a.request, len(a.ids), a.tokens, finish, timing)
        completion.extra.update(batch_size=self.batch_size, prefix_prefill_s=a.prefix_prefill_s)
        return completion

    def _completion(self, request: Request, prompt_len: int, tokens: list, finish: str, timing: dict) -> Completion:
        """`tokens` may end with the stop token; Harmony parsing wants to see it, the counts do not."""
        stopped = finish == "stop"
        content = tokens[:-1] if stopped and tokens and tokens[-1] in self.tokenizer.eos_token_ids else tokens
        notes = {}
        if self.family is not None:  # <think> / thought-channel parsing (models/families.py)
            from mlxclin.models.families import parse_completion_tokens

            reasoning, final, status, reasoning_tokens, notes = parse_completion_tokens(
                self.tokenizer, self.family, tokens, stopped, request.effort)
        elif self.harmony:
            from mlxclin.harmony import parse_completion

            parsed = parse_completion(tokens, stopped)
            reasoning, final, status, reasoning_tokens = (parsed.reasoning, parsed.final, parsed.status,
                                                          parsed.reasoning_tokens)
        else:
            from mlxclin.backends.base import split_answer

            reasoning, final, status, _, _ = split_answer(self.tokenizer.decode(content), "", stopped)
            reasoning_tokens = len(self.tokenizer.encode(reasoning, add_special_tokens=False)) if reasoning else 0
        return Completion(
            id=request.id, text=self.tokenizer.decode(content), reasoning=reasoning, final=final,
            finish_reason=finish, status=status, format=self.format, prompt_tokens=prompt_len,
            completion_tokens=len(content), reasoning_tokens=reasoning_tokens, rss_gb=rss_gb(), extra=notes,
            **timing)

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()
            self._generator = None
        self.prefixes.clear()
        mx.clear_cache()
