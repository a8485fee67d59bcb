"""The one interface between tasks and models.

A task builds `Request`s (chat messages + sampling), a backend turns them into `Completion`s: `stream(requests)`
yields each completion as soon as it is finished (any order, so an engine can store it at once), `generate(requests)`
returns them all in request order. A backend never knows which task asked; a task never knows which backend answered.

Timing fields are per request and measured from the moment the backend starts working on it (its insertion into the
batch or its send), never from the start of a batch: `queued_s` is the wait before that moment.
"""

from dataclasses import asdict, dataclass, field
from typing import Iterator, Optional, Protocol

EFFORTS = ("low", "medium", "high")


@dataclass
class Request:
    id: str                      # unique within a run dir, e.g. "18812:0:high"
    messages: list               # [{"role": "system"|"developer"|"user"|"assistant", "content": str}, ...]
    effort: str = "medium"       # gpt-oss reasoning effort; passed the way each API expects it
    max_tokens: int = 2048
    temperature: float = 1.0     # sampling (mlxclin.decoding.sampling): 0 = greedy
    top_p: float = 1.0           # 1 = off
    top_k: int = 0               # 0 = off
    min_p: float = 0.0           # 0 = off
    presence_penalty: float = 0.0  # over this request's generated tokens only
    seed: Optional[int] = None
    item_id: str = ""            # the task item this asks about (replay looks outputs up by it)
    run: int = 0                 # 0-based repetition index
    prefix_key: str = ""         # requests with the same key share a prompt prefix worth prefilling once


@dataclass
class Completion:
    id: str
    text: str = ""               # raw completion as decoded text (special tokens included where known)
    reasoning: str = ""          # analysis channel / <think> block
    final: str = ""              # the answer the task parses
    finish_reason: str = "stop"  # stop | length | error
    status: str = "complete"     # complete | truncated | malformed | error
    format: str = ""             # harmony | chat_template | api | replay
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_prompt_tokens: int = 0            # prompt tokens served from a shared-prefix cache (not prefilled)
    queued_s: Optional[float] = None         # waiting before the backend started on it
    ttft_s: Optional[float] = None           # start -> first generated token
    prefill_tps: Optional[float] = None      # own uncached prompt tokens / ttft
    decode_tps: Optional[float] = None       # (tokens - 1) / (last token - first token), own timestamps
    latency_s: Optional[float] = None        # start -> last token
    peak_memory_gb: Optional[float] = None   # MLX allocator peak (local backends)
    rss_gb: Optional[float] = None           # process resident set size after the request
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    name: str

    def stream(self, requests: list) -> Iterator[Completion]:
        """Yield one Completion per Request as each finishes (any order)."""
        ...

    def close(self) -> None:
        ...


class StreamingBackend:
    """What every backend shares: `generate` is `stream` put back in request order."""

    def generate(self, requests: list) -> list:
        by_id = {c.id: c for c in self.stream(requests)}
        return [by_id[r.id] for r in requests]


def split_answer(content: str, reasoning: str, stopped: bool):
    """(reasoning, final, status, format, harmony reasoning tokens) from the text a server returned.

    Reasoning can come in a separate API field (`reasoning`), as `<think>...</think>` in the content, or as raw
    Harmony markup (local servers serving gpt-oss without a Harmony parser), which is parsed like the mlx backend's.
    """
    from mlxclin.harmony import looks_like_harmony, parse_completion_text

    if looks_like_harmony(content):
        parsed = parse_completion_text(content, stopped)
        both = "\n".join(t for t in (reasoning, parsed.reasoning) if t)
        return both, parsed.final, parsed.status, "harmony", parsed.reasoning_tokens
    final = content
    if "</think>" in content:  # the opening tag may sit in the prompt (templates that start the think block)
        think, _, final = content.partition("</think>")
        reasoning = "\n".join(t for t in (reasoning, think.replace("<think>", "", 1).strip()) if t)
    elif "<think>" in content:  # never closed: everything after the tag is reasoning
        before, _, think = content.partition("<think>")
        reasoning = "\n".join(t for t in (reasoning, think.strip()) if t)
        final = before
    final = final.strip()
    if not stopped:
        status = "truncated"
    else:
        status = "complete" if final else "malformed"
    return reasoning, final, status, "api", 0
