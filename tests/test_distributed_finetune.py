"""Data-parallel fine-tuning through `mlx.launch -n 2 -- python -m mlxclin finetune`: the same adapters as one
process with the same effective batch (also across a stop and --resume), rank 0 alone writes, and an effective
batch that does not divide by the ranks is refused in one line."""

import json

import numpy as np
import pytest

from distributed_support import launch, mlxclin_errors
from support import assert_one_line_error
from test_finetune_train import prepared  # noqa: F401 - the same prepared toy data (12 cases, compact prompt)

# effective batch 4 = batch 2 x accum 2: one process runs 2 micro-batches of 2, two ranks 1 micro-batch of 2 each
ARGS = ["--iters", 4, "--rank", 4, "--alpha", 8, "--dropout", 0, "--batch-size", 2, "--grad-accum", 2, "--lr", 1e-3,
        "--steps-per-report", 1, "--steps-per-eval", 4, "--save-every", 2, "--no-progress"]


def _adapters(out) -> dict:
    import mlx.core as mx

    return {k: np.array(v) for k, v in mx.load(str(out / "adapters.safetensors")).items()}


@pytest.mark.slow
def test_two_ranks_with_a_resume_train_the_adapters_of_one_process(prepared, toy_mlx_dir, tmp_path, run_mlxclin):
    single = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "one", *ARGS)
    assert single.exit_code == 0, single.stderr
    common = ["finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "two", *ARGS]
    first = launch(2, *common, "--stop-after-step", 2)
    assert not mlxclin_errors(first.stderr) and "Traceback" not in first.stderr, first.stderr
    assert "effective batch 4 examples per step = 2 ranks x 2" in first.stdout
    second = launch(2, *common, "--resume")
    assert not mlxclin_errors(second.stderr) and "Traceback" not in second.stderr, second.stderr
    assert second.stdout.count("resuming from") == 1 and second.stdout.count("adapters ->") == 1  # rank 0 only

    one, two = _adapters(tmp_path / "one"), _adapters(tmp_path / "two")
    assert one.keys() == two.keys()
    diff = max(float(np.abs(one[k] - two[k]).max()) for k in one)
    assert diff <= 1e-5, diff
    assert max(float(np.abs(v).max()) for k, v in one.items() if "lora_b" in k) > 1e-3   # training moved them
    # the log of the 2-rank run is rank 0's, one line per step, with the same losses as one process
    log_one = [r for r in map(json.loads, (tmp_path / "one" / "train_log.jsonl").read_text().splitlines())]
    log_two = [r for r in map(json.loads, (tmp_path / "two" / "train_log.jsonl").read_text().splitlines())]
    train_two = [r for r in log_two if r["type"] == "train"]
    assert [r["step"] for r in train_two] == [1, 2, 3, 4]
    assert [r["loss"] for r in train_two] == pytest.approx([r["loss"] for r in log_one if r["type"] == "train"],
                                                           rel=1e-5)
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["effective_batch"] == 4 and run["world"]["size"] == 2


def test_an_effective_batch_that_does_not_divide_by_the_ranks_is_refused(prepared, toy_mlx_dir, tmp_path,
                                                                         run_mlxclin, monkeypatch):
    """As rank 0 of a 2-rank launch (the refusal comes before the model loads or any collective runs)."""
    from mlxclin.distributed import World
    from mlxclin.finetune import data_parallel

    monkeypatch.setattr(data_parallel, "world", lambda: World(0, 2, ("127.0.0.1", "127.0.0.1"), "ring"))
    result = run_mlxclin("finetune", "--model", toy_mlx_dir, "--data", prepared, "--out", tmp_path / "x",
                         "--batch-size", 1, "--grad-accum", 3, "--iters", 1, "--no-progress")
    assert_one_line_error(result, "effective batch 3 (batch_size 1 x grad_accum 3) does not divide by the 2 ranks")
    assert not (tmp_path / "x").exists()
