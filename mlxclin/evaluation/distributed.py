"""Data-parallel evaluation over the ranks of `mlx.launch ... -- python -m mlxclin eval ...`.

Every rank loads the model once and builds the same request list; rank 0 owns the run directory (lock, settings
check, resume state) and tells the others which requests are done. The remaining requests are dealt round-robin
(`distributed.rank_share`) and each rank decodes its share with the engine's continuous batching, in rounds of
`round_size` requests per rank. After each round the finished samples are gathered to rank 0 (one all_gather of
JSON), which appends and fsyncs them to samples.jsonl: a killed launch loses at most the round in flight, and the
rerun (same command) asks exactly the requests without a sample, so every request ends with one sample.

metrics.json is computed from samples.jsonl as in a single process; perf.json adds a block per rank. All ranks
share one session clock, started together, so `total` measures the launch's wall time, not the sum of the ranks'.
config.json records the world (size, hosts, backend). Only rank 0 writes files; the others receive the results.
"""

import os
import time
from pathlib import Path

from mlxclin.distributed import all_gather_json, main_echo, quiet_other_ranks, rank_share, refuse, world
from mlxclin.errors import MlxclinError
from mlxclin.evaluation.rundir import PERF, RunDir, write_json
from mlxclin.evaluation.run import IDENTITY, EvalResult, all_requests, default_out, stored_results, write_results
from mlxclin.evaluation.setup import live_backend, load_inputs, replay_backend, run_config


class _RoundSamples:
    """Stands in for the RunDir during a round: keeps this rank's samples, stamped with rank and launch clock."""

    def __init__(self, rank: int, session: str, t0: float, run_path: Path):
        self.rank, self.session, self.t0, self.run_path = rank, session, t0, run_path
        self.samples = []

    def append_samples(self, samples: list, sync: bool = True) -> None:
        now = time.perf_counter() - self.t0
        self.samples.extend({**s, "rank": self.rank, "session": self.session, "finished_at_s": now} for s in samples)

    def file(self, name: str) -> Path:
        return self.run_path / name


def _open_run_dir(spec, config: dict, requests: list):
    """Rank 0: lock and check the run dir; returns (run_dir, state for every rank) or raises MlxclinError."""
    run_dir = RunDir(Path(spec.out) if spec.out else default_out(spec.task, config["model"]))
    run_dir.lock()
    try:
        resumed = run_dir.prepare(config, IDENTITY, spec.overwrite)
        dropped = run_dir.drop_failed_samples() if resumed else 0
        write_json(run_dir.file("config.json"), {**run_dir.read_config(), "world": world().to_dict()})
        done = sorted({s["request_id"] for s in run_dir.read_samples()} & {r.id for r in requests})
    except BaseException:
        run_dir.unlock()
        raise
    return run_dir, {"resumed": resumed, "dropped": dropped, "done": done, "session": os.urandom(4).hex(),
                     "path": str(run_dir.path)}


def _share_state(spec, config: dict, requests: list):
    """(rank 0's run dir or None, the run state every rank gets). A refusal on rank 0 is printed once."""
    run_dir, state = None, {"error": None}
    if world().is_main:
        try:
            run_dir, state = _open_run_dir(spec, config, requests)
            state["error"] = None
        except MlxclinError as e:
            state = {"error": str(e)}
    state = all_gather_json(state if world().is_main else None)[0]
    if state["error"]:
        refuse(state["error"])
    return run_dir, state


def _decode_rounds(spec, inputs, config: dict, todo: list, state: dict, run_dir, round_size: int) -> int:
    """Every rank decodes its share round by round; rank 0 appends each round's gathered samples."""
    from mlxclin.device import device_info
    from mlxclin.evaluation.engine import Progress, run_requests

    w = world()
    replay = spec.backend == "replay"
    backend = replay_backend(inputs, config["replay_columns"]) if replay else live_backend(spec, config)
    if run_dir is not None and not replay:
        write_json(run_dir.file("config.json"), {**run_dir.read_config(), "device": device_info()})
    mine = rank_share(todo)
    rounds = -(-(-(-len(todo) // w.size)) // round_size)   # ceil(ceil(todo / ranks) / round_size): same everywhere
    progress = Progress(len(todo), 0, f"{inputs.task.name} {config['model']} x{w.size} ranks",
                         enabled=not spec.quiet and w.is_main)
    written, t0 = 0, time.perf_counter()
    try:
        for k in range(rounds):
            buffer = _RoundSamples(w.rank, state["session"], t0, Path(state["path"]))
            chunk = mine[k * round_size:(k + 1) * round_size]
            if chunk:
                run_requests(inputs.task, inputs.items, backend, chunk, buffer, spec.retry_unparsed)
            gathered = [s for rank_samples in all_gather_json(buffer.samples) for s in rank_samples]
            if run_dir is not None:
                run_dir.append_samples(gathered)
                for sample in gathered:
                    progress.update(sample)
            written += len(gathered)
    finally:
        progress.close()
        backend.close()
    return written


def per_rank_perf(run_dir: RunDir, items: list, config: dict, ranks: int) -> dict:
    """perf.json's per-rank blocks: each rank's samples of this launch aggregated like `total`."""
    from mlxclin.evaluation.perf import aggregate

    samples = run_dir.read_samples()
    return {str(r): aggregate([s for s in samples if s.get("rank") == r], len(items), config.get("price"))
            for r in range(ranks)}


def evaluate_distributed(spec, echo=None, round_size: int = 0) -> EvalResult:
    """`evaluate(spec)` split across the ranks of this launch; every rank returns rank 0's EvalResult."""
    import json

    w = world()
    quiet_other_ranks()
    echo = main_echo(echo or (lambda _msg: None))
    inputs = load_inputs(spec)
    config = run_config(spec, inputs)
    requests = all_requests(spec, inputs, config)
    run_dir, state = _share_state(spec, config, requests)
    try:
        done = set(state["done"])
        todo = [r for r in requests if r.id not in done]
        if state["resumed"]:
            echo(f"resuming {state['path']}: {len(done)} of {len(requests)} requests done")
        echo(f"{len(todo)} requests over {w.size} ranks ({', '.join(w.hosts)})")
        size = round_size or max(4 * spec.batch_size, 8)
        written = _decode_rounds(spec, inputs, config, todo, state, run_dir, size) if todo else 0
        result = None
        if run_dir is not None:
            stored = None if written else stored_results(run_dir)
            metrics, perf = stored or write_results(inputs.task, inputs.items, config, run_dir)
            doc = json.loads(run_dir.file(PERF).read_text(encoding="utf-8"))
            doc.update(world=w.to_dict(), ranks=per_rank_perf(run_dir, inputs.items, config, w.size))
            write_json(run_dir.file(PERF), doc)
            result = {"metrics": metrics, "perf": perf}
    finally:
        if run_dir is not None:
            run_dir.unlock()
    result = all_gather_json(result)[0]
    return EvalResult(result["metrics"], result["perf"], Path(state["path"]), config, state["resumed"], written,
                      state["dropped"])
