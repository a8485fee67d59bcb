"""Prepared examples -> padded batches, in a data order that depends only on (seed, step).

Each optimizer step takes the next `batch_size x grad_accum` examples of its epoch's seeded permutation, so the
examples of any step can be recomputed from the step number alone: resuming needs no saved iterator state.
Within a step the examples are sorted by length before they are cut into micro-batches (less padding; the loss is
a sum over tokens, so the order inside a step does not change the update).
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlxclin.data import iter_jsonl, sha256_of
from mlxclin.errors import MlxclinError


@dataclass
class Example:
    ids: list
    mask: list      # 1 = trained token (predicted from the position before it)

    @property
    def trained(self) -> int:
        return sum(self.mask[1:])


def load_split(data_dir, split: str, max_seq_len: int) -> tuple:
    """(examples, number skipped for being longer than max_seq_len or having no trained token)."""
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise MlxclinError(f"{path} not found; run `mlxclin finetune prepare --out {data_dir}` first")
    examples, skipped = [], 0
    with open(path, encoding="utf-8") as f:
        for number, record in iter_jsonl(f, path):
            ids, mask = record.get("ids"), record.get("mask")
            if not isinstance(ids, list) or not isinstance(mask, list):
                raise MlxclinError(f"{path} line {number} is not a prepared example (ids + mask)")
            if len(ids) != len(mask):
                raise MlxclinError(f"{path} line {number}: ids and mask differ in length")
            example = Example(ids, mask)
            # Truncating would cut the end of the sequence, i.e. exactly the answer tokens that are trained.
            if len(ids) > max_seq_len or example.trained == 0:
                skipped += 1
                continue
            examples.append(example)
    return examples, skipped


file_digest = sha256_of  # resume refuses prepared data whose content changed


class StepOrder:
    """Which examples each optimizer step uses: epoch-wise seeded permutations, ceil(n / per_step) steps each."""

    def __init__(self, n_examples: int, per_step: int, seed: int):
        if n_examples < 1:
            raise MlxclinError("the training split has no usable examples")
        self.n, self.per_step, self.seed = n_examples, per_step, seed
        self.steps_per_epoch = math.ceil(n_examples / per_step)
        self._cache = {}

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def indices(self, step: int) -> list:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch not in self._cache:
            self._cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._cache[epoch][k * self.per_step:(k + 1) * self.per_step].tolist()


def micro_batches(examples: list, batch_size: int) -> list:
    """Length-sorted chunks of at most batch_size examples."""
    ordered = sorted(examples, key=lambda e: len(e.ids))
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def to_arrays(batch: list) -> tuple:
    """(inputs [B, L-1], positions [n], targets [n], n): the trained targets and where their logits come from.

    Target t of row b is predicted from input position t-1, i.e. row b, column t-1 of `inputs`; `positions` are
    those flat indices into inputs.reshape(-1), so the loss applies the LM head only at trained positions.
    """
    import mlx.core as mx

    width = max(len(e.ids) for e in batch) - 1
    inputs = np.zeros((len(batch), width), dtype=np.int32)
    positions, targets = [], []
    for b, e in enumerate(batch):
        ids = np.asarray(e.ids, dtype=np.int32)
        inputs[b, :len(ids) - 1] = ids[:-1]
        trained = np.nonzero(np.asarray(e.mask[1:], dtype=bool))[0]   # target index t-1 for each trained token t
        positions.append(b * width + trained)
        targets.append(ids[trained + 1])
    positions, targets = np.concatenate(positions), np.concatenate(targets)
    return mx.array(inputs), mx.array(positions.astype(np.int32)), mx.array(targets), int(len(targets))
