"""The one interface between tasks and models.

A task builds `Request`s (chat messages + sampling), a backend turns a batch of them into `Completion`s.
A backend never knows which task asked; a task never knows which backend answered.
"""

from dataclasses import asdict, dataclass, field
from typing import Optional, Protocol

EFFORTS = ("low", "medium", "high")


@dataclass
class Request:
    id: str                      # unique within a run dir, e.g. "18812:0:high"
    messages: list               # [{"role": "system"|"developer"|"user"|"assistant", "content": str}, ...]
    effort: str = "medium"       # gpt-oss reasoning effort; passed the way each API expects it
    max_tokens: int = 2048
    temperature: float = 1.0
    top_p: float = 1.0
    seed: Optional[int] = None
    item_id: str = ""            # the task item this asks about (replay looks outputs up by it)
    run: int = 0                 # 0-based repetition index


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
    ttft_s: Optional[float] = None
    prefill_tps: Optional[float] = None
    decode_tps: Optional[float] = None
    latency_s: Optional[float] = None
    peak_memory_gb: Optional[float] = None   # MLX allocator peak (local backends)
    rss_gb: Optional[float] = None           # process resident set size after the request
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    name: str

    def generate(self, requests: list) -> list:
        """Return one Completion per Request, in order."""
        ...

    def close(self) -> None:
        ...
