"""The local MLX backend: a model loaded once through mlx-lm (with mlxclin's gpt-oss fixes), Harmony prompts
rendered by openai-harmony, completions parsed from token ids, speed and memory measured per request.

Batch size 1 streams with `mlx_lm.stream_generate`; larger batches use mlx-lm's `BatchGenerator`.
The prompt prefix shared by consecutive requests (Harmony system message + the task's instructions) is prefilled
once and reused from mlx-lm's `LRUPromptCache`, so k runs x N items never recompute it.
"""

import time
from typing import Optional

import mlx.core as mx

from mlxclin.backends.base import Completion, Request
from mlxclin.device import peak_memory_gb, reset_peak_memory, rss_gb

MIN_SHARED_PREFIX = 16  # tokens; shorter shared prefixes are not worth a cache entry


def _common_prefix(a: list, b: list) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class MLXBackend:
    name = "mlx"

    def __init__(self, model_path, adapter_path: Optional[str] = None, batch_size: int = 1,
                 prefix_cache: bool = True, prefill_step_size: int = 2048):
        from mlx_lm.models.cache import LRUPromptCache

        from mlxclin.models.gpt_oss import load

        self.model_path, self.adapter_path = str(model_path), adapter_path
        self.model, self.tokenizer, self.config = load(model_path, adapter_path=adapter_path)
        self.harmony = self.config.get("model_type") == "gpt_oss"
        if self.harmony:
            from mlxclin.harmony import stop_token_ids

            # <|return|> and <|call|> end an assistant turn; <|end|> only closes the analysis message.
            # <|endoftext|> is kept from generation_config.json as a hard end.
            self.stop_ids = sorted(set(stop_token_ids()) | {199999})
        else:
            self.stop_ids = sorted(self.tokenizer.eos_token_ids)
        # --- issue 14 hook: Qwen3.5 / Gemma 4 end-of-turn tokens (models/families.py) ---
        from mlxclin.models import families

        self.family = families.family_of(self.config)
        if self.family is not None:
            self.stop_ids = families.stop_token_ids(self.tokenizer, self.family)
        # --- end issue 14 hook ---
        self.tokenizer.eos_token_ids = set(self.stop_ids)
        self.batch_size = max(1, batch_size)
        self.prefill_step_size = prefill_step_size
        self.prompt_cache = LRUPromptCache(max_size=4) if prefix_cache else None
        self._last_prompt: list = []
        self._prefixes: set = set()  # prefixes inserted into prompt_cache (an evicted one just costs a prefill)
        self.format = "harmony" if self.harmony else "chat_template"

    # --- prompts ---------------------------------------------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list:
        if self.harmony:
            from mlxclin.harmony import render_prompt

            return render_prompt(request.messages, request.effort)
        if self.family is not None:  # issue 14 hook: the family's chat template with its thinking switch
            from mlxclin.models.families import render_prompt as render_family_prompt

            return render_family_prompt(self.tokenizer, self.family, request.messages, request.effort)
        return list(self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True,
                                                       tokenize=True))

    def _prefix_cache(self, ids: list):
        """(cache or None, tokens still to prefill) for a prompt; caches the prefix it shares with the last one."""
        if self.prompt_cache is None:
            return None, ids
        shared = _common_prefix(ids, self._last_prompt)
        self._last_prompt = ids
        if shared >= MIN_SHARED_PREFIX:
            prefix = ids[: min(shared, len(ids) - 1)]
            if tuple(prefix) not in self._prefixes:  # not cached yet: prefill the shared prefix once
                self._prefixes.add(tuple(prefix))
                from mlx_lm.models.cache import make_prompt_cache

                cache = make_prompt_cache(self.model)
                for i in range(0, len(prefix), self.prefill_step_size):
                    self.model(mx.array(prefix[i:i + self.prefill_step_size])[None], cache=cache)
                    mx.eval([c.state for c in cache])
                self.prompt_cache.insert_cache(self.model_path, prefix, cache, cache_type="system")
        cache, rest = self.prompt_cache.fetch_nearest_cache(self.model_path, ids)
        return cache, rest if cache is not None else ids

    # --- completions -----------------------------------------------------------------------------------------------
    def _completion(self, request: Request, prompt_len: int, tokens: list, finish: str, timing: dict) -> Completion:
        """`tokens` may end with the stop token; Harmony parsing wants to see it, the counts do not."""
        stopped = finish == "stop"
        content = tokens[:-1] if stopped and tokens and tokens[-1] in self.tokenizer.eos_token_ids else tokens
        if self.family is not None:  # issue 14 hook: <think> / thought-channel parsing (models/families.py)
            return self._family_completion(request, prompt_len, tokens, content, finish, timing)
        if self.harmony:
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
            completion_tokens=len(content), reasoning_tokens=reasoning_tokens, rss_gb=rss_gb(), **timing)

    def _family_completion(self, request: Request, prompt_len: int, tokens: list, content: list, finish: str,
                           timing: dict) -> Completion:
        """issue 14 hook: Qwen3.5 / Gemma 4 completions, parsed from the decoded text with special tokens kept."""
        from mlxclin.models.families import parse_completion, thinking_for

        thinking = thinking_for(self.family, request.effort)
        parsed = parse_completion(self.family, self.tokenizer.decode(tokens), finish == "stop", thinking)
        reasoning = parsed.reasoning
        reasoning_tokens = len(self.tokenizer.encode(reasoning, add_special_tokens=False)) if reasoning else 0
        completion = Completion(
            id=request.id, text=self.tokenizer.decode(content), reasoning=parsed.reasoning, final=parsed.final,
            finish_reason=finish, status=parsed.status, format=self.family.name, prompt_tokens=prompt_len,
            completion_tokens=len(content), reasoning_tokens=reasoning_tokens, rss_gb=rss_gb(), **timing)
        completion.extra.update(parsed.notes, thinking=thinking)
        return completion

    def _sampler(self, request: Request):
        from mlx_lm.sample_utils import make_sampler

        return make_sampler(temp=request.temperature, top_p=request.top_p if request.top_p < 1.0 else 0.0)

    def _generate_one(self, request: Request) -> Completion:
        from mlx_lm import stream_generate

        ids = self.prompt_ids(request)
        cache, rest = self._prefix_cache(ids)
        if request.seed is not None:
            mx.random.seed(request.seed)
        reset_peak_memory()
        tokens, finish, ttft = [], "length", None
        start = time.perf_counter()
        response = None
        for response in stream_generate(self.model, self.tokenizer, rest, max_tokens=request.max_tokens,
                                        sampler=self._sampler(request), prompt_cache=cache,
                                        prefill_step_size=self.prefill_step_size):
            if ttft is None:
                ttft = time.perf_counter() - start
            # the last response carries the stop token (finish "stop") or the last content token ("length")
            tokens.append(response.token)
            finish = response.finish_reason or finish
        latency = time.perf_counter() - start
        n = len(tokens) - (finish == "stop")
        decode_s = latency - (ttft or 0.0)
        timing = {"ttft_s": ttft, "latency_s": latency, "peak_memory_gb": peak_memory_gb(),
                  "prefill_tps": len(rest) / ttft if ttft else None,
                  "decode_tps": (n - 1) / decode_s if n > 1 and decode_s > 0 else None}
        completion = self._completion(request, len(ids), tokens, finish, timing)
        completion.extra["cached_prompt_tokens"] = len(ids) - len(rest)
        return completion

    def _generate_batch(self, requests: list) -> list:
        from mlx_lm.generate import BatchGenerator

        prompts = [self.prompt_ids(r) for r in requests]
        if requests[0].seed is not None:
            mx.random.seed(requests[0].seed)  # batched sampling shares one RNG stream: seeded per batch
        reset_peak_memory()
        gen = BatchGenerator(self.model, stop_tokens=[[t] for t in self.stop_ids],
                             completion_batch_size=len(requests), prefill_batch_size=len(requests),
                             prefill_step_size=self.prefill_step_size)
        start = time.perf_counter()
        uids = gen.insert(prompts, [r.max_tokens for r in requests],
                          samplers=[self._sampler(r) for r in requests])
        index = {uid: i for i, uid in enumerate(uids)}
        tokens = [[] for _ in requests]
        first = [None] * len(requests)
        done = [None] * len(requests)
        finish = ["length"] * len(requests)
        while responses := gen.next_generated():
            now = time.perf_counter() - start
            for r in responses:
                i = index[r.uid]
                first[i] = first[i] if first[i] is not None else now
                tokens[i].append(r.token)  # the stop token is kept: Harmony parsing wants to see it
                if r.finish_reason is not None:
                    done[i], finish[i] = now, r.finish_reason
        gen.close()
        peak = peak_memory_gb()
        out = []
        for i, r in enumerate(requests):
            n = len(tokens[i]) - (1 if finish[i] == "stop" else 0)
            decode_s = (done[i] or 0) - (first[i] or 0)
            timing = {"ttft_s": first[i], "latency_s": done[i], "peak_memory_gb": peak,
                      "prefill_tps": len(prompts[i]) / first[i] if first[i] else None,
                      "decode_tps": (n - 1) / decode_s if n > 1 and decode_s > 0 else None}
            completion = self._completion(r, len(prompts[i]), tokens[i], finish[i], timing)
            completion.extra["batch_size"] = len(requests)
            out.append(completion)
        return out

    def generate(self, requests: list) -> list:
        out = []
        for i in range(0, len(requests), self.batch_size):
            chunk = requests[i:i + self.batch_size]
            out.extend(self._generate_batch(chunk) if len(chunk) > 1 else [self._generate_one(chunk[0])])
        return out

    def close(self) -> None:
        self.prompt_cache = None
        mx.clear_cache()
