"""Data-parallel LoRA training over the ranks of `mlx.launch ... -- python -m mlxclin finetune ...`.

The approach of mlx-lm's trainer: every rank holds the whole model, takes its share of each step's examples, and the
gradients are combined with `mlx.nn.average_gradients` (concatenated into few all-reduces) before every rank applies
the same update. The effective batch (batch_size x grad_accum examples per optimizer step) is the same as on one
process and must divide by the number of ranks; each rank then trains effective / N examples per step in
micro-batches of at most batch_size. mlxclin's loss is the mean over every trained token of the step, so the
gradient sums and token counts are reduced across ranks before the one division: N ranks reproduce one process
(up to float summation order) when dropout is 0; with dropout the masks differ (they depend on the micro-batch
shapes and on the rank), as between any two batch layouts.

Only rank 0 writes the user's output folder (checkpoints, adapters, logs) and prints; the other ranks write the same
files into a scratch folder they delete at the end. On `--resume`, rank 0 reads the checkpoint and sends the
adapters, optimizer state and step to the other ranks, so only rank 0's machine needs the output folder.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

from mlxclin.distributed import World, broadcast_from_main, rank_share, refuse, world
from mlxclin.finetune.config import TrainConfig


class DataParallel:
    def __init__(self, ranks: World, config: TrainConfig):
        self.world = ranks
        self.effective_batch = config.batch_size * config.grad_accum
        self._model = None   # set by sync_state(): the shapes of an all-zero gradient

    @classmethod
    def for_config(cls, config: TrainConfig) -> "DataParallel":
        """This launch's ranks, after checking the effective batch splits evenly (one line on rank 0 if not)."""
        ranks = world()
        effective = config.batch_size * config.grad_accum
        if effective % ranks.size:
            refuse(f"the effective batch {effective} (batch_size {config.batch_size} x grad_accum "
                   f"{config.grad_accum}) does not divide by the {ranks.size} ranks of this launch; choose "
                   f"--batch-size and --grad-accum whose product divides by {ranks.size}")
        return cls(ranks, config)

    @property
    def active(self) -> bool:
        return self.world.size > 1

    def describe(self) -> str:
        if not self.active:
            return f"effective batch {self.effective_batch} examples per step"
        return (f"effective batch {self.effective_batch} examples per step = {self.world.size} ranks x "
                f"{self.effective_batch // self.world.size} (data parallel, hosts {', '.join(self.world.hosts)})")

    def run_info(self) -> dict:
        return {"effective_batch": self.effective_batch, "world": self.world.to_dict()}

    def output_dir(self, out: Path) -> Path:
        """rank 0: the user's folder; other ranks: a scratch folder, removed when the process exits."""
        if self.world.is_main:
            return out
        scratch = Path(tempfile.mkdtemp(prefix=f"mlxclin-rank{self.world.rank}-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        return scratch / out.name

    def resumes_here(self, resume: bool) -> bool:
        """Only rank 0 reads the checkpoint; sync_state() hands it to the others."""
        return resume and self.world.is_main

    def sync_state(self, model, optimizer, start: int, trained_tokens: int) -> tuple:
        """Rank 0's adapters, optimizer state, step and token count on every rank; returns (start, trained)."""
        import mlx.core as mx

        if not self.active:
            return start, trained_tokens
        self._model = model
        optimizer.init(model.trainable_parameters())   # fills only missing entries: the same tree on every rank
        model.update(broadcast_from_main(model.trainable_parameters()))
        optimizer.state = broadcast_from_main(optimizer.state)
        counters = broadcast_from_main(mx.array([start, trained_tokens], dtype=mx.int64))
        mx.eval(model.trainable_parameters(), optimizer.state, counters)
        return int(counters[0].item()), int(counters[1].item())

    def step_seed(self, seed: int) -> int:
        """Per-rank dropout noise (identical masks on every rank would correlate their examples)."""
        return seed * self.world.size + self.world.rank

    def share(self, examples: list) -> list:
        return rank_share(examples, self.world)

    def reduce(self, grads, loss_sum: float, trained: int) -> tuple:
        """Gradient sums, loss sum and trained-token count over every rank's share of the step. A rank whose share
        is empty (the short last step of an epoch) has grads None and contributes zeros."""
        import mlx.core as mx
        from mlx.nn import average_gradients
        from mlx.utils import tree_map

        if not self.active:
            return grads, loss_sum, trained
        if grads is None:
            grads = tree_map(mx.zeros_like, self._model.trainable_parameters())
        n = self.world.size
        grads = tree_map(lambda g: g * n, average_gradients(grads))   # average x N = the sum the loss divides
        totals = mx.distributed.all_sum(mx.array([loss_sum, float(trained)], dtype=mx.float32), stream=mx.cpu)
        mx.eval(grads, totals)
        return grads, float(totals[0].item()), int(round(totals[1].item()))
