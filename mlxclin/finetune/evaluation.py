"""`mlxclin finetune --eval-after`: the trained adapter on the Eurorad test set, through the evaluation library.

The evaluation must ask the way training taught: the same reasoning effort and the same prompt template as
`prepare` used (both recorded in DATA_DIR/prepare.json). Results go to ADAPTER_DIR/eval-eurorad/.
"""

import json
from pathlib import Path

from mlxclin.errors import MlxclinError


def eval_spec(model, adapter_dir, data_dir, test_data=None, limit=None, runs: int = 1, effort=None,
              temperature=None, max_tokens=None):
    """The EvalSpec that checks this adapter."""
    from mlxclin.evaluation.spec import EvalSpec

    meta_file = Path(data_dir) / "prepare.json"
    if not meta_file.is_file():
        raise MlxclinError(f"{meta_file} not found: --eval-after needs the DATA_DIR written by `finetune prepare`")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MlxclinError(f"{meta_file} is not readable JSON ({e}); rerun `mlxclin finetune prepare`") from None
    return EvalSpec.from_sources(task="eurorad", backend="mlx", model=str(model), adapter_path=str(adapter_dir),
                                 efforts=[effort or meta["effort"]], prompt_files=[meta["prompt"]], runs=runs,
                                 out=str(Path(adapter_dir) / "eval-eurorad"), overwrite=True,
                                 data=str(test_data) if test_data else None, limit=limit, temperature=temperature,
                                 max_tokens=max_tokens)


def evaluate_adapter(model, adapter_dir, data_dir, test_data=None, limit=None, runs: int = 1, effort=None,
                     temperature=None, max_tokens=None, echo=print) -> dict:
    """Evaluate the adapter in this process; returns the metrics of its effort."""
    from mlxclin.evaluation.run import evaluate

    spec = eval_spec(model, adapter_dir, data_dir, test_data, limit, runs, effort, temperature, max_tokens)
    echo(f"evaluating the adapter on eurorad ({spec.effort_list[0]} effort) -> {spec.out}")
    result = evaluate(spec, echo=echo)
    return next(iter(result.metrics.values()))
