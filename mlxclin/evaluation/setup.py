"""What an evaluation needs before any model is loaded: the task, its data and prompts, the resolved settings that
go into config.json, and (only when requests remain) the backend."""

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlxclin import __version__
from mlxclin.data import resolve_data_file, sha256_of
from mlxclin.decoding.sampling import SAMPLING_FIELDS
from mlxclin.errors import MlxclinError
from mlxclin.evaluation.spec import EvalSpec, sampling_settings


@dataclass
class Inputs:
    task: object
    subsets: list
    files: dict            # subset -> data file
    prompts: dict          # subset -> PromptTemplate
    items_by_subset: dict  # subset -> [Item]
    dropped_rows: dict     # subset -> {reason: rows of the data file the task's protocol left out}

    @property
    def items(self) -> list:
        return [item for s in self.subsets for item in self.items_by_subset[s]]


def load_inputs(spec: EvalSpec) -> Inputs:
    from mlxclin.tasks import get_task

    check_spec(spec)
    task = get_task(spec.task, map_options=spec.map_options, protocol=spec.protocol)
    if spec.subset is not None and spec.subset not in task.subsets:
        raise MlxclinError(f"task {task.name} has no subset {spec.subset!r}"
                           + (f"; subsets: {', '.join(task.subsets)}" if task.subsets else ""))
    subsets = [spec.subset] if spec.subset else (list(task.subsets) or [""])
    files = _data_files(task, subsets, spec.data)
    overrides = _prompt_overrides(task, spec.prompt_files, subsets)
    prompts = {s: task.load_prompt(s, overrides.get(s)) for s in subsets}
    loaded = {s: task.load_items(files[s], s) for s in subsets}
    items = {s: _select(loaded[s], spec.ids, spec.limit) for s in subsets}
    if not any(items.values()):
        raise MlxclinError("no items selected (check --ids / --limit)")
    return Inputs(task, subsets, files, prompts, items, {s: loaded[s].dropped_counts() for s in subsets})


def check_spec(spec: EvalSpec) -> None:
    """Checks across settings that single values cannot express (one line each)."""
    if spec.backend == "mlx" and not spec.model:
        raise MlxclinError("--backend mlx needs --model MODEL_DIR (e.g. the output of mlxclin convert)")
    if spec.backend == "mlx":
        from mlxclin.models.folders import check_adapter_folder, check_model_folder

        check_model_folder(spec.model)   # cheap checks (no mlx import) before anything is loaded
        if spec.adapter_path:
            check_adapter_folder(spec.adapter_path)
    if spec.backend == "openai" and not (spec.api_model or spec.model):
        raise MlxclinError("--backend openai needs --model (or --api-model): the model name at the endpoint")
    if spec.backend == "replay":
        replay_columns(spec)
    if spec.shard is not None:
        if spec.backend != "mlx":
            raise MlxclinError(f"--shard {spec.shard} needs --backend mlx")
        from mlxclin.distributed import check_tensor_split, world

        check_tensor_split(spec.model, world().size)   # refused before anything is loaded
    if spec.decoding == "beam":
        from mlxclin.evaluation.beams import beam_settings

        beam_settings(spec)
    not_sampled = _not_sampled(spec)
    given = [name for name in SAMPLING_FIELDS if getattr(spec, name) is not None]
    if not_sampled and given:
        raise MlxclinError(f"{spec.origin(given[0])}: not applied, {not_sampled}; leave the sampling settings out")


def replay_columns(spec: EvalSpec) -> list:
    from mlxclin.backends.replay import parse_column_list

    if spec.replay_columns is None:
        raise MlxclinError("--backend replay needs --replay-columns COL1,COL2,... (one data column per run)")
    columns = parse_column_list(spec.replay_columns)
    if spec.runs is not None and spec.runs != len(columns):
        raise MlxclinError(f"--runs {spec.runs} does not match the {len(columns)} --replay-columns (one column "
                           f"per run)")
    return columns


def run_config(spec: EvalSpec, inputs: Inputs) -> dict:
    """config.json: every resolved setting, with the fingerprints that make a resume safe."""
    config = {"mlxclin_version": __version__, "task": inputs.task.name, "subsets": inputs.subsets,
              "backend": spec.backend, "efforts": spec.effort_list, "runs": spec.resolved_runs(),
              "seed": spec.seed, **sampling_config(spec),
              "max_tokens": spec.max_tokens, "limit": spec.limit, "ids": spec.ids, "map_options": spec.map_options,
              "protocol": spec.protocol, "dropped_rows": inputs.dropped_rows,
              "retry_unparsed": spec.retry_unparsed, "batch_size": spec.batch_size, "concurrency": spec.concurrency,
              "data": {s: {"path": str(p), "sha256": sha256_of(p)} for s, p in inputs.files.items()},
              "prompts": {s: {"source": p.source, "sha256": _sha(p.system + p.user)}
                          for s, p in inputs.prompts.items()}}
    if spec.decoding == "beam":
        from mlxclin.evaluation.beams import beam_config

        config["decoding"] = beam_config(spec)
    if spec.backend == "replay":
        columns = replay_columns(spec)
        config.update(replay_columns=columns, runs=len(columns), efforts=spec.efforts or ["unknown"],
                      model=spec.model or replay_model_label(columns))
    elif spec.backend == "mlx":
        from mlxclin.evaluation.rundir import model_fingerprint
        from mlxclin.models.checkpoint import dir_size

        from mlxclin.models.families import run_settings

        path = Path(spec.model)
        config.update(model=str(path), model_path=str(path.resolve()), model_fingerprint=model_fingerprint(path),
                      model_family=run_settings(path, spec.effort_list),
                      model_size_bytes=dir_size(path), adapter_path=spec.adapter_path,
                      adapter_fingerprint=model_fingerprint(spec.adapter_path) if spec.adapter_path else None)
    else:
        from mlxclin.backends.privacy import DEFAULT_OPENAI_BASE_URL

        model = spec.api_model or spec.model
        config.update(model=model, base_url=spec.base_url or DEFAULT_OPENAI_BASE_URL,
                      api=spec.api or ("chat" if spec.base_url else "responses"), api_key_env=spec.api_key_env,
                      model_fingerprint=None, price=_price(model))
        from mlxclin.backends.openai_backend import api_sampling

        config["api_sampling"] = api_sampling(config["api"], config["base_url"],
                                              {k: config[k] for k in SAMPLING_FIELDS}, config["sampling_sources"])
    return config


def sampling_config(spec: EvalSpec) -> dict:
    """The five sampling settings a run uses, and `sampling_sources`: where each came from (a flag, a --config
    key, the checkpoint's generation_config.json, its model card, gpt-oss's default). Beam search and replays do
    not sample: their settings are null, and setting one is refused (check_spec)."""
    not_sampled = _not_sampled(spec)
    if not_sampled:
        return {**dict.fromkeys(SAMPLING_FIELDS),
                "sampling_sources": dict.fromkeys(SAMPLING_FIELDS, f"not applied: {not_sampled}")}
    explicit = {name: (getattr(spec, name), spec.origin(name)) for name in SAMPLING_FIELDS}
    values, sources = sampling_settings(explicit, spec.model if spec.backend == "mlx" else None)
    return {**values, "sampling_sources": sources}


def _not_sampled(spec: EvalSpec):
    if spec.decoding == "beam":
        return "--decoding beam is greedy (diverse beam search)"
    if spec.backend == "replay":
        return "--backend replay scores stored outputs"
    return None


def live_backend(spec: EvalSpec, config: dict):
    if spec.backend == "mlx" and spec.decoding == "beam":
        from mlxclin.backends.mlx_beam import MLXBeamBackend
        from mlxclin.evaluation.beams import beam_settings

        return MLXBeamBackend(spec.model, beam_settings(spec), spec.vote, adapter_path=spec.adapter_path)
    if spec.backend == "mlx":
        from mlxclin.backends.mlx import MLXBackend

        loaded = None
        if spec.shard == "tensor":
            import mlx.core as mx

            from mlxclin.distributed import load_sharded

            loaded = load_sharded(spec.model, mx.distributed.init(), spec.adapter_path)
        return MLXBackend(spec.model, adapter_path=spec.adapter_path, batch_size=spec.batch_size, loaded=loaded)
    from mlxclin.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(config["model"], base_url=spec.base_url, api=spec.api, api_key_env=spec.api_key_env,
                         allow_remote=spec.allow_remote, concurrency=spec.concurrency, timeout_s=spec.timeout)


def replay_backend(inputs: Inputs, columns: list):
    """One ReplayBackend over every subset's items; a missing column is reported with its file."""
    from mlxclin.backends.replay import ReplayBackend

    outputs = {}
    for subset, items in inputs.items_by_subset.items():
        outputs.update(ReplayBackend.from_items(items, columns, source=str(inputs.files[subset])).outputs)
    return ReplayBackend(outputs, columns)


def replay_model_label(columns: list) -> str:
    """A model name from its run columns: the shared prefix without the run suffix ("gpt-5.1-1113-M1..3" ->
    "gpt-5.1-1113", "oss-20b (H) v1..3" -> "oss-20b (H)"); the joined names when they share nothing."""
    if len(columns) == 1:
        prefix = re.sub(r"[\s_.-]+[mMvV]?\d+(?:\.\d+)?$", "", columns[0])
    else:
        prefix = re.sub(r"(?:[\s_.-]+[mMvV])?[\s_.-]*$", "", os.path.commonprefix(columns))
    return prefix or "+".join(columns)


def _prompt_overrides(task, values: list, subsets: list) -> dict:
    """--prompt-file PATH (every selected subset) or SUBSET=PATH (one subset of the task)."""
    overrides = {}
    for value in values:
        subset, sep, path = value.partition("=")
        if sep and subset in task.subsets:
            if subset not in subsets:
                raise MlxclinError(f"--prompt-file {value}: subset {subset!r} is not being evaluated")
            overrides[subset] = path
        else:
            for s in subsets:
                overrides[s] = value
    return overrides


def _data_files(task, subsets: list, data) -> dict:
    if data is not None and len(subsets) > 1 and not Path(data).is_dir():
        names = " and ".join(task.data_file(s) for s in subsets)
        raise MlxclinError(f"--data for task {task.name} without --subset must be a folder holding {names}; "
                           f"or pass --subset with a single file")
    return {s: resolve_data_file(task.data_file(s), data) for s in subsets}


def _select(items: list, ids, limit) -> list:
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        known = {item.id for item in items}
        unknown = [i for i in wanted if i not in known]
        if len(unknown) == len(wanted):
            raise MlxclinError(f"--ids: none of {', '.join(unknown[:3])} are item ids of this data")
        items = [item for item in items if item.id in set(wanted)]
    return items[:limit] if limit else items


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _price(model: str):
    """USD per million tokens from mlxclin/configs/prices.toml, if the model is listed."""
    from mlxclin.evaluation.spec import read_toml
    from mlxclin.paths import config_file

    path = config_file("prices.toml")
    return read_toml(path).get(model) if path.exists() else None
