"""`evaluate(spec)`: the Python API under `mlxclin eval`.

    from mlxclin import EvalSpec, evaluate
    result = evaluate(EvalSpec(task="eurorad", model="models/gpt-oss-20b", runs=3, batch_size=8))
    result.metrics["medium"]["accuracy"]["pct"], result.perf["medium"]["decode_tps_aggregate"], result.run_dir

Order of work: settings and data are checked, the run directory is locked and its resume state read, and only when
requests remain is the model loaded (so a changed setting is refused, and a finished run reported, in seconds).
"""

import re
from dataclasses import dataclass, replace
from pathlib import Path

from mlxclin.decoding.sampling import SAMPLING_FIELDS
from mlxclin.errors import MlxclinError
from mlxclin.evaluation.rundir import METRICS, PERF, SAMPLES, RunDir, write_json
from mlxclin.evaluation.scoring import build_requests, compute_metrics
from mlxclin.evaluation.setup import live_backend, load_inputs, replay_backend, run_config
from mlxclin.evaluation.spec import EvalSpec

# settings that change what a sample means: two runs differing in one of them never share a run directory
IDENTITY = ("task", "subsets", "backend", "model", "model_fingerprint", "adapter_path", "adapter_fingerprint",
            "base_url", "api", "efforts", "runs", "seed", "temperature", "top_p", "top_k", "min_p",
            "presence_penalty", "max_tokens", "limit", "ids",
            "data", "prompts", "replay_columns", "map_options", "protocol", "retry_unparsed", "decoding")


@dataclass
class EvalResult:
    metrics: dict       # effort -> metrics.json document of that effort
    perf: dict          # effort -> perf.json block of that effort
    run_dir: Path
    config: dict
    resumed: bool
    new_samples: int    # written by this call (0 when the run was already complete)
    dropped_errors: int  # failed samples removed so this call could ask them again


def default_out(task: str, model: str) -> Path:
    return Path("runs") / re.sub(r"[^\w.-]+", "_", f"{task}-{Path(model).name}")


def evaluate(spec: EvalSpec, echo=None) -> EvalResult:
    """Run (or resume, or just re-report) an evaluation; `echo(str)` receives status lines (stderr in the CLI).

    Under `mlx.launch` with several ranks: without `shard`, the ranks split the requests (data parallel,
    mlxclin.evaluation.distributed); with `shard="tensor"`, each rank holds a slice of the model and all ranks decode
    every request in lockstep, rank 0 writing the run directory (the others mirror it in a temporary folder)."""
    echo = echo or (lambda _msg: None)
    from mlxclin.distributed import launched

    if launched():
        from mlxclin.distributed import quiet_other_ranks, world

        ranks = world()
        if ranks.size > 1 and spec.shard is None:
            from mlxclin.evaluation.distributed import evaluate_distributed

            return evaluate_distributed(spec, echo)
        if ranks.size > 1 and not ranks.is_main:
            import tempfile

            quiet_other_ranks()
            spec = replace(spec, out=tempfile.mkdtemp(prefix=f"mlxclin-rank{ranks.rank}-"), quiet=True)
    inputs = load_inputs(spec)
    config = run_config(spec, inputs)
    run_dir = RunDir(Path(spec.out) if spec.out else default_out(inputs.task.name, config["model"]))
    run_dir.lock()
    try:
        if run_dir.stale_lock_pid:
            echo(f"taking over {run_dir.path}: the process that held it (pid {run_dir.stale_lock_pid}) is gone")
        resumed = run_dir.prepare(config, IDENTITY, spec.overwrite)
        dropped = run_dir.drop_failed_samples() if resumed else 0
        requests = all_requests(spec, inputs, config)
        done = {s["request_id"] for s in run_dir.read_samples()}
        todo = [r for r in requests if r.id not in done]
        if resumed:
            echo(f"resuming {run_dir.path}: {len(requests) - len(todo)} of {len(requests)} requests done"
                 + (f", {dropped} failed ones asked again" if dropped else ""))
        written = _generate(spec, inputs, config, run_dir, todo, len(requests), echo) if todo else 0
        stored = None if written else stored_results(run_dir)
        metrics, perf = stored or write_results(inputs.task, inputs.items, config, run_dir)
    finally:
        run_dir.unlock()
    return EvalResult(metrics, perf, run_dir.path, config, resumed, written, dropped)


def all_requests(spec: EvalSpec, inputs, config: dict) -> list:
    """Every request of the run (efforts x runs x items), in a fixed order."""
    sampling = {name: config[name] for name in SAMPLING_FIELDS if config[name] is not None}  # as resolved
    return [r for effort in config["efforts"]
            for r in build_requests(inputs.task, inputs.items, inputs.prompts, config["runs"], effort, spec.seed,
                                    max_tokens=spec.max_tokens, **sampling)]


def _generate(spec: EvalSpec, inputs, config: dict, run_dir: RunDir, todo: list, total: int, echo) -> int:
    from mlxclin.device import device_info
    from mlxclin.evaluation.engine import Progress, run_requests

    if spec.backend == "replay":
        backend = replay_backend(inputs, config["replay_columns"])
    else:
        if spec.backend == "mlx":
            spec = replace(spec, batch_size=memory_preflight(spec, todo, echo))
        backend = live_backend(spec, config)
        write_json(run_dir.file("config.json"), {**run_dir.read_config(), "device": device_info(),
                                                 "batch_size_used": spec.batch_size})
    progress = Progress(total, total - len(todo), f"{inputs.task.name} {config['model']}",
                         enabled=not spec.quiet and spec.backend != "replay")
    try:
        return run_requests(inputs.task, inputs.items, backend, todo, run_dir, spec.retry_unparsed, progress)
    finally:
        progress.close()
        backend.close()


def memory_preflight(spec: EvalSpec, todo: list, echo) -> int:
    """The batch size to run (`auto`: the largest that fits), after one line comparing the memory estimate (weights
    + KV cache at that batch and max tokens) with the machine's budget; refused in one line when it does not fit."""
    from mlxclin.memory import check_fits, estimate_eval_memory, pick_batch_size

    # prompt length from characters (about 3 per token in clinical English) plus the chat format's overhead: the
    # tokenizer is not loaded yet, and the estimate only needs the order of magnitude
    prompt_tokens = max(sum(len(m["content"]) for m in r.messages) for r in todo) // 3 + 128
    from mlxclin.models.checkpoint import read_config

    model_type = read_config(Path(spec.model)).get("model_type")
    skipped = ("with --shard tensor each rank holds a slice of the weights" if spec.shard is not None else
               f"mlxclin estimates gpt-oss only (this is {model_type})" if model_type != "gpt_oss" else None)
    if skipped:
        if spec.batch_size == "auto":
            raise MlxclinError(f"--batch-size auto needs the memory estimate, and {skipped}; give a number")
        echo(f"memory pre-flight skipped: {skipped}")
        return spec.batch_size
    batch = spec.batch_size
    if batch == "auto":
        batch = pick_batch_size(spec.model, spec.max_tokens, prompt_tokens, max_batch=min(64, len(todo)))
        echo(f"--batch-size auto: {batch}")
    echo(check_fits(estimate_eval_memory(spec.model, batch, spec.max_tokens, prompt_tokens),
                    "lower --batch-size or --max-tokens, or convert with a smaller recipe (q4)"))
    return batch


def stored_results(run_dir: RunDir):
    """(metrics, perf) per effort as written, if they were computed from samples.jsonl exactly as it is now."""
    import json

    from mlxclin.data import sha256_of

    try:
        perf_doc = json.loads(run_dir.file(PERF).read_text(encoding="utf-8"))
        metrics_doc = json.loads(run_dir.file(METRICS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if perf_doc.get("samples_sha256") != sha256_of(run_dir.file(SAMPLES)):
        return None
    metrics = metrics_doc.get("by_effort") or {metrics_doc.get("effort"): metrics_doc}
    return metrics, perf_doc.get("efforts", {})


def write_results(task, items: list, config: dict, run_dir: RunDir) -> tuple:
    """metrics.json (first effort at top level, all under by_effort) and perf.json, from samples.jsonl alone."""
    from mlxclin.evaluation.perf import aggregate

    item_ids = {i.id for i in items}
    samples = [s for s in run_dir.read_samples() if s["item_id"] in item_ids]
    by_effort = {e: [s for s in samples if s["effort"] == e] for e in config["efforts"]}
    metrics = {e: {**compute_metrics(task, items, by_effort[e], config["runs"], config["model"]), "effort": e,
                   "dropped_rows": config.get("dropped_rows", {})}
               for e in config["efforts"]}
    doc = dict(next(iter(metrics.values())))
    if len(metrics) > 1:
        doc["by_effort"] = metrics
    write_json(run_dir.file(METRICS), doc)
    perf = {e: aggregate(s, len(items), config.get("price")) for e, s in by_effort.items()}
    stored = run_dir.read_config()  # holds the device of the session that generated
    header = {k: stored.get(k) for k in ("backend", "model", "model_size_bytes", "device", "batch_size",
                                         "concurrency")}
    from mlxclin.data import sha256_of

    write_json(run_dir.file(PERF), {**header, "samples_sha256": sha256_of(run_dir.file(SAMPLES)),
                                    "total": aggregate(samples, len(items), config.get("price")), "efforts": perf})
    return metrics, perf

