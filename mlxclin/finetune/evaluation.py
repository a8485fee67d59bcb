"""`mlxclin finetune --eval-after`: the trained adapter on the Eurorad test set, through `mlxclin eval`.

The evaluation must ask the way training taught: the same reasoning effort and the same prompt template as
`prepare` used (both recorded in DATA_DIR/prepare.json). Results go to ADAPTER_DIR/eval-eurorad/.
"""

import json
from pathlib import Path

from mlxclin.errors import MlxclinError


def eval_arguments(model, adapter_dir, data_dir, test_data=None, limit=None, runs: int = 1, effort=None,
                   temperature=None, max_tokens=None) -> list:
    """The `mlxclin eval` command line that checks this adapter."""
    meta_file = Path(data_dir) / "prepare.json"
    if not meta_file.is_file():
        raise MlxclinError(f"{meta_file} not found: --eval-after needs the DATA_DIR written by `finetune prepare`")
    meta = json.loads(meta_file.read_text())
    args = ["--task", "eurorad", "--backend", "mlx", "--model", str(model), "--adapter-path", str(adapter_dir),
            "--effort", effort or meta["effort"], "--prompt-file", meta["prompt"], "--runs", str(runs),
            "--out", str(Path(adapter_dir) / "eval-eurorad"), "--overwrite"]
    if test_data:
        args += ["--data", str(test_data)]
    if limit:
        args += ["--limit", str(limit)]
    if temperature is not None:
        args += ["--temperature", str(temperature)]
    if max_tokens is not None:
        args += ["--max-tokens", str(max_tokens)]
    return args


def evaluate_adapter(model, adapter_dir, data_dir, test_data=None, limit=None, runs: int = 1, effort=None,
                     temperature=None, echo=print, max_tokens=None) -> dict:
    """Run the eval command in this process; returns metrics.json."""
    from mlxclin.commands.eval import command as eval_command

    args = eval_arguments(model, adapter_dir, data_dir, test_data, limit, runs, effort, temperature, max_tokens)
    echo("evaluating the adapter: mlxclin eval " + " ".join(args))
    eval_command.main(args=args, prog_name="mlxclin eval", standalone_mode=False)
    return json.loads((Path(adapter_dir) / "eval-eurorad" / "metrics.json").read_text())
