"""The MLX backend in beam-search mode: one request = one diverse beam search (`mlxclin.decoding`).

Requests run one after another (the beams of one request are the batch). Each beam is parsed like a sampled
completion (Harmony channels, stop tokens); the Completion carries the best-scoring beam's text and, under
`extra["beams"]`, every beam, best score first, for the evaluation to parse with the task and vote on.
`completion_tokens` counts the tokens generated over all beams, so throughput is beam-search throughput.
"""

import time
from dataclasses import asdict, replace
from typing import Optional

from mlxclin.backends.base import Completion, Request
from mlxclin.backends.mlx import MLXBackend
from mlxclin.decoding.beam_search import BeamSettings, beam_record, beam_search
from mlxclin.device import peak_memory_gb, reset_peak_memory


class MLXBeamBackend(MLXBackend):
    def __init__(self, model_path=None, settings: BeamSettings = BeamSettings(), vote: str = "majority",
                 adapter_path: Optional[str] = None, prefill_step_size: int = 2048, loaded: Optional[tuple] = None):
        super().__init__(model_path, adapter_path=adapter_path, batch_size=1, prefix_cache=False,
                         prefill_step_size=prefill_step_size, loaded=loaded)
        self.settings, self.vote = settings, vote
        self.pad_id = self.config.get("pad_token_id")
        if self.pad_id is None:
            self.pad_id = self.stop_ids[0]

    def stream(self, requests: list, on_token=None):
        """One beam search per request, in order. `on_token` is not called: beams have no single token stream."""
        t0 = time.perf_counter()
        for request in requests:
            yield self._search(request, queued_s=time.perf_counter() - t0)

    def _search(self, request: Request, queued_s: float) -> Completion:
        ids = self.prompt_ids(request)
        settings = replace(self.settings, max_tokens=request.max_tokens)
        reset_peak_memory()
        start = time.perf_counter()
        result = beam_search(self.model, ids, settings, self.stop_ids, self.pad_id,
                             prefill_step_size=self.prefill_step_size)
        latency = time.perf_counter() - start
        beams = []
        for hyp in result.beams:
            parsed = self._completion(request, len(ids), hyp.tokens, "stop" if hyp.stopped else "length", {})
            beams.append({**beam_record(hyp), "text": parsed.text, "reasoning": parsed.reasoning,
                          "final": parsed.final, "status": parsed.status})
        best = self._completion(request, len(ids), result.beams[0].tokens,
                                "stop" if result.beams[0].stopped else "length",
                                {"queued_s": queued_s, "ttft_s": result.prefill_s, "latency_s": latency,
                                 "prefill_tps": len(ids) / result.prefill_s if result.prefill_s > 0 else None,
                                 "decode_tps": result.tokens_per_s, "peak_memory_gb": peak_memory_gb()})
        best.completion_tokens = result.generated_tokens
        best.extra.update(beams=beams, decoding={"method": "beam", **asdict(settings), "vote": self.vote},
                          beam_steps=result.steps)
        return best
