"""OpenAI-compatible backend: cloud baselines and local servers through the official `openai` SDK.

API styles (`api`):
  responses -- OpenAI's Responses API (GPT-5-class models); effort goes in `reasoning={"effort": ...}`.
  chat      -- Chat Completions: DeepSeek-R1 and others (e.g. via OpenRouter) and local servers (mlx_lm.server,
               llama.cpp, vLLM, Ollama, LM Studio). The default when a base URL is given.
Chat servers read the effort from different places (`server_kind`; "auto" = "local" for loopback URLs, else "cloud"):
  cloud -- top-level `reasoning_effort` (OpenAI's Chat Completions parameter), `max_completion_tokens`, and sampling
           parameters only when they differ from the API default of 1.0 (reasoning models reject them otherwise).
  local -- `chat_template_kwargs={"reasoning_effort": ...}`, which mlx_lm.server, llama.cpp and vLLM pass to the
           model's chat template (mlx_lm.server ignores a top-level `reasoning_effort`: its server.py never reads
           it), plus the top-level field for servers that read that one (Ollama, LM Studio); each server ignores the
           field it does not know. `max_tokens`, and every sampling setting (mlx_lm.server defaults to greedy;
           top_k and min_p as extra body fields): see `api_sampling`.
Retries: 408/409/429/5xx, timeouts, dropped connections and broken streams are retried up to `max_retries` times,
waiting min(max_backoff_s, backoff_s * 2**n) scaled by a random factor in [0.5, 1] (at least a server's
Retry-After, up to max_backoff_s). The SDK's own retries are off so this policy is the only one. 401/403/404 abort
the batch with a one-line error; other failures become Completions with status "error" (never fake answers).
`timeout_s` bounds every wait for the server (connect, first byte, each gap between streamed chunks), not the whole
generation, so long streamed reasoning is not cut off while a silent server is.
The API key is read from the environment variable named by `api_key_env`, held only in memory (the SDK client and the
redactor); any run of 8 or more of its characters is replaced by *** in every message and answer this module
produces, including server error text that echoes part of it. Proxy variables (HTTP_PROXY, ...) are honoured only for
a remote endpoint the user allowed; a loopback request always goes straight to this machine.
TTFT is the time to the first streamed reasoning or answer text; decode tok/s = completion tokens / (latency - TTFT),
leaving out reasoning tokens the API reports but never streams (hidden reasoning happens before the first token).
"""

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Optional

from mlxclin.backends.base import Completion, StreamingBackend, split_answer
from mlxclin.backends.privacy import (DEFAULT_OPENAI_BASE_URL, check_base_url, is_loopback_host, redact_secret,
                                      url_host)
from mlxclin.decoding.sampling import GPT_OSS_SAMPLING, SAMPLING_FIELDS
from mlxclin.errors import MlxclinError

APIS = ("chat", "responses")
SERVER_KINDS = ("auto", "cloud", "local")
NO_KEY = "no-key"   # loopback servers need no key, but the SDK insists on a non-empty one


SENT, SENT_EXTRA, NOT_SENT = "sent", "sent in extra_body (not an OpenAI parameter)", "not sent: the API default"


def api_sampling(api: str, base_url: str, values: dict, sources: Optional[dict] = None,
                 server_kind: str = "auto") -> dict:
    """name -> how each sampling setting reaches the endpoint: SENT, SENT_EXTRA or NOT_SENT; a setting the API
    cannot take is refused in one line (never dropped). `sources` names where a value came from, for that line.

    temperature, top_p: always sent to a local server (mlx_lm.server defaults to greedy), else only when not 1.0
    (reasoning models reject them). presence_penalty: a Chat Completions parameter, sent on the same rule (its
    default is 0); the Responses API has none. top_k, min_p: not OpenAI parameters; on the chat API they go in the
    request body as extra fields, which vLLM, llama.cpp, mlx_lm.server and OpenRouter read: always to a local
    server (llama.cpp would otherwise apply its own top_k 40 and min_p 0.05), and when set to a cloud endpoint;
    OpenAI's own API and the Responses API have neither, so setting them there is refused."""
    host = url_host(base_url)
    local = (server_kind if server_kind != "auto" else "local" if is_loopback_host(host) else "cloud") == "local"
    plan = {}
    for name, value in values.items():
        off = value == GPT_OSS_SAMPLING[name]
        standard = name in ("temperature", "top_p") or (name == "presence_penalty" and api == "chat")
        if standard or (off and (api == "responses" or not local)):
            plan[name] = SENT if standard and (local or not off) else NOT_SENT
        elif api == "responses" or host == url_host(DEFAULT_OPENAI_BASE_URL):
            where = "the Responses API" if api == "responses" else "OpenAI's API"
            origin = (sources or {}).get(name, name)
            raise MlxclinError(f"{origin}: {where} has no {name} parameter (got {value!r}); "
                               f"leave it off, or use --api chat with a server that reads it (vLLM, llama.cpp, "
                               f"mlx_lm.server)")
        else:
            plan[name] = SENT_EXTRA
    return plan


class _Retryable(Exception):
    """A failure the server may not repeat: a broken stream, a failed-response event, a reply without choices."""


def _get(obj, name):
    """Field of an SDK object or a plain dict; servers add fields (reasoning_content, ...) the SDK keeps as extras."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _count(obj, name) -> int:
    value = _get(obj, name)
    return int(value) if isinstance(value, (int, float)) else 0


def _one_line(text, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


class OpenAIBackend(StreamingBackend):
    name = "openai"

    def __init__(self, model: str, base_url: Optional[str] = None, api: Optional[str] = None,
                 api_key_env: Optional[str] = None, allow_remote: bool = False, server_kind: str = "auto",
                 concurrency: int = 4, timeout_s: float = 600.0, max_retries: int = 6, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, stream: bool = True):
        check_base_url(base_url, allow_remote)
        # an explicit URL, so OPENAI_BASE_URL in the environment cannot redirect prompts past the privacy check
        self.base_url = base_url or DEFAULT_OPENAI_BASE_URL
        self.api = api or ("chat" if base_url else "responses")
        if self.api not in APIS:
            raise MlxclinError(f"unknown API style {self.api!r}; choose one of {', '.join(APIS)}")
        if server_kind not in SERVER_KINDS:
            raise MlxclinError(f"unknown server kind {server_kind!r}; choose one of {', '.join(SERVER_KINDS)}")
        host = url_host(self.base_url)
        local = is_loopback_host(host)
        self.server_kind = server_kind if server_kind != "auto" else ("local" if local else "cloud")
        self.model, self.api_key_env, self.use_sse = model, api_key_env, stream
        self.concurrency, self.timeout_s = max(1, int(concurrency)), float(timeout_s)
        self.max_retries, self.backoff_s, self.max_backoff_s = max(0, int(max_retries)), backoff_s, max_backoff_s
        self._where = host if self.base_url == base_url else "the OpenAI API"
        key = self._read_key(local)
        self._secret = key if key != NO_KEY else None
        try:
            import openai
        except ImportError:
            raise MlxclinError("the openai backend needs the openai SDK: pip install 'mlxclin[openai]'") from None
        self._openai = openai
        # Proxy variables (HTTP_PROXY, ALL_PROXY, ...) apply only to a remote endpoint the user allowed: a request
        # for this machine holds patient data and must not be handed to a proxy on the way.
        http_client = openai.DefaultHttpxClient(trust_env=not local, timeout=self.timeout_s)
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s,
                                     http_client=http_client)
        self._abort = threading.Event()

    def _read_key(self, local: bool) -> str:
        if not self.api_key_env:
            if local:
                return NO_KEY
            raise MlxclinError(f"{self._where} needs an API key: put it in an environment variable and pass its "
                               f"name with --api-key-env (e.g. OPENAI_API_KEY)")
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise MlxclinError(f"environment variable {self.api_key_env} (named by --api-key-env) is not set")
        return key

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r})"

    # --- batch ------------------------------------------------------------------------------------------------------

    def stream(self, requests: list):
        """Yield each Completion as it finishes, keeping `concurrency` requests in flight (a sliding window: a
        new request is sent as soon as any one returns, never waiting for a whole group)."""
        self._abort.clear()
        if not requests:
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            submitted = time.perf_counter()
            futures = [pool.submit(self._run_one, r, submitted) for r in requests]
            try:
                for future in as_completed(futures):
                    completion = future.result()
                    if completion is not None:
                        yield completion
            except BaseException:
                self._abort.set()  # queued requests return at once; in-flight ones stop before their next retry
                for f in futures:
                    f.cancel()
                raise

    def close(self) -> None:
        self._client.close()

    def _run_one(self, request, submitted: Optional[float] = None) -> Optional[Completion]:
        reasons = []
        t0 = time.perf_counter()
        queued = t0 - submitted if submitted is not None else None
        while not self._abort.is_set():
            try:
                completion = self._call(request)
            except Exception as e:
                kind = self._classify(e)
                if kind is None:
                    raise
                if kind == "fatal":
                    self._abort.set()  # before the worker can pick up the next queued request
                    raise self._fatal_error(e) from None
                reason = self._describe(e)
                if kind == "fail" or len(reasons) >= self.max_retries:
                    return Completion(id=request.id, finish_reason="error", status="error", format="api",
                                      latency_s=time.perf_counter() - t0, queued_s=queued, error=reason,
                                      extra=self._extra(reasons))
                self._abort.wait(self.retry_delay(len(reasons), self._retry_after(e)))
                reasons.append(reason)
                continue
            completion.extra.update(self._extra(reasons))
            completion.queued_s = queued
            return completion
        return None  # the batch is being aborted by another request's error; stream() raises that one

    def _extra(self, reasons: list) -> dict:
        return {"api": self.api, "model": self.model, "server_kind": self.server_kind,
                "retries": len(reasons), "retry_reasons": list(reasons)}

    # --- retry policy -----------------------------------------------------------------------------------------------

    def retry_delay(self, retry: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry number `retry` (0-based): exponential backoff with jitter."""
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** retry) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s))
        return delay

    @staticmethod
    def _retry_after(e) -> Optional[float]:
        headers = getattr(getattr(e, "response", None), "headers", None) or {}
        for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
            try:
                return float(headers[name]) * scale
            except (KeyError, TypeError, ValueError):  # absent, or an HTTP date: fall back to our own backoff
                continue
        return None

    def _classify(self, e) -> Optional[str]:
        """fatal (abort the batch) | retry | fail (error Completion now) | None (not an API failure: a bug)."""
        oa = self._openai
        if isinstance(e, oa.APIStatusError):
            if e.status_code in (401, 403, 404):
                return "fatal"
            return "retry" if e.status_code in (408, 409, 429) or e.status_code >= 500 else "fail"
        if isinstance(e, (oa.APIError, _Retryable)):  # timeouts, connection errors, error events inside a stream
            return "retry"
        return None

    def _redact(self, text: str) -> str:
        return redact_secret(text, self._secret)

    def _describe(self, e) -> str:
        oa = self._openai
        if isinstance(e, oa.APITimeoutError):
            return f"timed out after {self.timeout_s:g} s"
        if isinstance(e, oa.APIConnectionError):
            cause = e.__cause__ or e.__context__
            return self._redact(_one_line(f"connection failed: {cause or e}"))
        if isinstance(e, oa.APIStatusError):
            return self._redact(_one_line(f"HTTP {e.status_code}: {self._body_message(e)}"))
        return self._redact(_one_line(str(e)))

    @staticmethod
    def _body_message(e) -> str:
        body = getattr(e, "body", None)
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or getattr(e, "message", "") or "no message")

    def _fatal_error(self, e) -> MlxclinError:
        code = e.status_code
        if code in (401, 403):  # the server's message is left out: some echo part of the key
            if not self.api_key_env:
                return MlxclinError(f"{self._where} requires an API key (HTTP {code}): put it in an environment "
                                    f"variable and pass its name with --api-key-env")
            return MlxclinError(f"{self._where} refused the API key in ${self.api_key_env} (HTTP {code}): check "
                                f"that it is valid and allowed to use model {self.model!r}")
        return MlxclinError(self._redact(_one_line(
            f"{self._where} has no model {self.model!r} or no {self.api} endpoint under {self.base_url} (HTTP 404: "
            f"{self._body_message(e)}); check the model name and the base URL (local servers usually serve /v1)",
            limit=500)))

    # --- one request ------------------------------------------------------------------------------------------------

    def _call(self, request) -> Completion:
        t0 = time.perf_counter()
        if self.api == "responses":
            content, reasoning, finish, usage, ttft = self._responses(request, t0)
        else:
            content, reasoning, finish, usage, ttft = self._chat(request, t0)
        return self._completion(request, content, reasoning, finish, usage, ttft, time.perf_counter() - t0)

    def _sampling(self, request) -> tuple:
        """(top-level sampling parameters, extra_body fields) for this request (see `api_sampling`)."""
        values = {name: getattr(request, name) for name in SAMPLING_FIELDS}
        plan = api_sampling(self.api, self.base_url, values, server_kind=self.server_kind)
        sent = {name: values[name] for name, how in plan.items() if how == SENT}
        return sent, {name: values[name] for name, how in plan.items() if how == SENT_EXTRA}

    def _messages(self, request) -> list:
        return [{"role": m["role"], "content": m["content"]} for m in request.messages]

    def _chat(self, request, t0):
        sampling, extra_body = self._sampling(request)
        kwargs = dict(model=self.model, messages=self._messages(request), **sampling)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        kwargs["reasoning_effort"] = request.effort
        if self.server_kind == "local":
            kwargs["max_tokens"] = request.max_tokens
            extra_body["chat_template_kwargs"] = {"reasoning_effort": request.effort}
        else:
            kwargs["max_completion_tokens"] = request.max_tokens
        if extra_body:
            kwargs["extra_body"] = extra_body
        create = self._client.chat.completions.create
        if not self.use_sse:
            response = create(**kwargs)
            if not response.choices:
                raise _Retryable("the server answered without choices")
            message = response.choices[0].message
            reasoning = _get(message, "reasoning_content") or _get(message, "reasoning") or ""
            return message.content or "", reasoning, response.choices[0].finish_reason, response.usage, None
        content, reasoning, finish, usage, ttft = [], [], None, None, None
        with create(**kwargs, stream=True, stream_options={"include_usage": True}) as chunks:
            for chunk in chunks:
                usage = chunk.usage or usage
                for choice in chunk.choices or []:
                    delta = choice.delta
                    thought = _get(delta, "reasoning_content") or _get(delta, "reasoning") or ""
                    text = _get(delta, "content") or ""
                    if ttft is None and (thought or text):
                        ttft = time.perf_counter() - t0
                    reasoning.append(thought)
                    content.append(text)
                    finish = choice.finish_reason or finish
        if finish is None:  # the connection closed mid-answer: a partial answer must not pass as a whole one
            raise _Retryable("the stream ended before the server finished the answer")
        return "".join(content), "".join(reasoning), finish, usage, ttft

    def _responses(self, request, t0):
        kwargs = dict(model=self.model, input=self._messages(request), reasoning={"effort": request.effort},
                      max_output_tokens=request.max_tokens, **self._sampling(request)[0])
        create = self._client.responses.create
        if not self.use_sse:
            response = create(**kwargs)
            content, reasoning = self._response_output(response)
            return content, reasoning, self._response_finish(response), response.usage, None
        content, reasoning, response, ttft = [], [], None, None
        with create(**kwargs, stream=True) as events:
            for event in events:
                kind = _get(event, "type") or ""
                if kind == "response.output_text.delta":
                    content.append(event.delta)
                elif kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
                    reasoning.append(event.delta)
                elif kind == "response.reasoning_summary_part.added" and reasoning:
                    reasoning.append("\n\n")
                elif kind in ("response.completed", "response.incomplete", "response.failed"):
                    response = event.response
                elif kind == "error":
                    raise _Retryable(f"error event in the stream: {_get(event, 'message')}")
                if ttft is None and kind.endswith(".delta") and _get(event, "delta"):
                    ttft = time.perf_counter() - t0
        if response is None:
            raise _Retryable("the stream ended before the response completed")
        return "".join(content), "".join(reasoning), self._response_finish(response), response.usage, ttft

    @staticmethod
    def _response_output(response):
        content, reasoning = [], []
        for item in response.output or []:
            if _get(item, "type") == "message":
                content += [_get(c, "text") or "" for c in _get(item, "content") or []
                            if _get(c, "type") == "output_text"]
            elif _get(item, "type") == "reasoning":
                reasoning += [_get(s, "text") or "" for s in _get(item, "summary") or []]
                reasoning += [_get(c, "text") or "" for c in _get(item, "content") or []]
        return "".join(content), "\n\n".join(t for t in reasoning if t)

    @staticmethod
    def _response_finish(response) -> str:
        status = _get(response, "status")
        if status == "failed":
            error = _get(response, "error")
            raise _Retryable(f"the response failed: {_get(error, 'message') or _get(error, 'code') or 'no reason'}")
        if status == "incomplete":
            reason = _get(_get(response, "incomplete_details"), "reason")
            return "length" if reason == "max_output_tokens" else (reason or "incomplete")
        return "stop"

    def _completion(self, request, content, api_reasoning, api_finish, usage, ttft, latency) -> Completion:
        content, api_reasoning = self._redact(content or ""), self._redact(api_reasoning or "")
        stopped = api_finish != "length"
        reasoning, final, status, fmt, harmony_reasoning = split_answer(content, api_reasoning or "", stopped)
        prompt_tokens = _count(usage, "prompt_tokens") or _count(usage, "input_tokens")
        completion_tokens = _count(usage, "completion_tokens") or _count(usage, "output_tokens")
        details = _get(usage, "completion_tokens_details") or _get(usage, "output_tokens_details")
        reasoning_tokens = _count(details, "reasoning_tokens") or harmony_reasoning
        cached = _get(_get(usage, "prompt_tokens_details") or _get(usage, "input_tokens_details"), "cached_tokens")
        # Hidden reasoning (OpenAI cloud) is generated before the first visible token: it belongs to the wait, not
        # to the streamed part that decode speed is measured over.
        hidden = reasoning_tokens if reasoning_tokens and not reasoning else 0
        streamed = completion_tokens - hidden
        decode_tps = prefill_tps = None
        if ttft is not None and latency > ttft and streamed > 0:
            decode_tps = streamed / (latency - ttft)
        if ttft and prompt_tokens and not hidden:
            prefill_tps = prompt_tokens / ttft  # TTFT includes network and queueing: a lower bound on prefill speed
        extra = {"usage_reported": usage is not None}
        if cached is not None:
            extra["cached_prompt_tokens"] = int(cached)
        if api_finish not in ("stop", "length"):
            extra["api_finish_reason"] = api_finish
        return Completion(id=request.id, text=content, reasoning=reasoning, final=final,
                          finish_reason="length" if not stopped else "stop", status=status, format=fmt,
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          reasoning_tokens=reasoning_tokens, ttft_s=ttft, prefill_tps=prefill_tps,
                          decode_tps=decode_tps, latency_s=latency, extra=extra)
