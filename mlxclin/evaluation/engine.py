"""The run engine: every request of a run (items x runs x efforts) through one backend stream, stored as it ends.

The backend keeps its batch (or its concurrency window) full across items, runs and efforts; each finished
completion is scored and appended (fsynced) to samples.jsonl at once. Unparseable answers are re-sampled with a
fresh seed up to `retry_unparsed` times (counted). Metrics and perf are recomputed from samples.jsonl at the end,
so an interrupted and resumed run ends with the files of an uninterrupted one.
"""

import os
import time
from dataclasses import replace

from mlxclin.errors import Interrupted
from mlxclin.evaluation.scoring import score_completion

RETRY_SEED_STRIDE = 100_003   # retry n of a request uses seed + n * stride


class Progress:
    """A tqdm bar over requests with a live accuracy / speed postfix."""

    def __init__(self, total: int, done: int, desc: str, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc=desc, unit="req", disable=not enabled)
        self.correct = self.scored = self.tokens = 0
        self.t0 = time.perf_counter()

    def update(self, sample: dict) -> None:
        if "correct" in sample and sample["status"] != "error":
            self.scored += 1
            self.correct += bool(sample["correct"])
        self.tokens += sample.get("completion_tokens") or 0
        post = {"tok/s": f"{self.tokens / max(time.perf_counter() - self.t0, 1e-9):.1f}"}
        if self.scored:
            post["acc"] = f"{100 * self.correct / self.scored:.1f}%"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_requests(task, items: list, backend, requests: list, run_dir, retry_unparsed: int = 0,
                 progress=None) -> int:
    """Generate, score and append every request; returns how many samples were written."""
    by_item = {item.id: item for item in items}
    by_id = {r.id: r for r in requests}
    session = os.urandom(4).hex()
    t0 = time.perf_counter()
    written = 0
    pending, attempt = list(requests), 0
    try:
        while pending:
            retry = []
            for completion in backend.stream(pending):
                request = by_id[completion.id]
                sample = score_completion(task, by_item[request.item_id], request, completion)
                sample.update(retries_unparsed=attempt, session=session,
                              finished_at_s=time.perf_counter() - t0)
                if sample["status"] == "unparsed" and attempt < retry_unparsed:
                    retry.append(request)
                    continue
                run_dir.append_samples([sample], sync=backend.name != "replay")
                written += 1
                if progress is not None:
                    progress.update(sample)
            attempt += 1
            pending = [replace(r, seed=r.seed + RETRY_SEED_STRIDE) for r in retry]
            by_id.update((r.id, r) for r in pending)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; finished samples are in {run_dir.file('samples.jsonl')}; "
                          f"rerun the same command to resume") from None
    return written
