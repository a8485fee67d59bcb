"""Beam bookkeeping on mlx-lm KV caches: select/repeat batch rows of every layer's cache.

gpt-oss alternates `KVCache` (full attention) and `RotatingKVCache` (sliding window). All beams advance in
lockstep, so the position state (offset, write index) is shared and only the batch rows of keys/values move.
Layers are gathered one at a time and evaluated at once, so a reorder holds at most one layer's extra copy.
"""

import mlx.core as mx
from mlx_lm.models.cache import KVCache, RotatingKVCache

from mlxclin.errors import MlxclinError

REORDERABLE = (KVCache, RotatingKVCache)


def check_reorderable(cache: list) -> None:
    for layer in cache:
        if not isinstance(layer, REORDERABLE):
            raise MlxclinError(f"beam search cannot reorder a {type(layer).__name__} cache "
                               f"(supported: {', '.join(c.__name__ for c in REORDERABLE)})")


def trim_sliding_windows(cache: list) -> None:
    """After a prefill, keep only the last window of each sliding-window cache.

    mlx-lm keeps a whole prefilled chunk in a RotatingKVCache until the next single-token update trims it; doing
    that trim now means the broadcast to all beams copies `window` tokens per beam, not the whole prompt.
    """
    for layer in cache:
        if not isinstance(layer, RotatingKVCache) or layer.keys is None:
            continue
        keys, values = layer._temporal_order(layer.keys), layer._temporal_order(layer.values)
        extra = keys.shape[2] - layer.max_size
        if extra > 0:
            layer.keys, layer.values = layer._trim(extra, keys), layer._trim(extra, values)
            layer._idx = layer.max_size  # full: the next write wraps to `keep`, as mlx-lm's own trim would
            mx.eval(layer.keys, layer.values)


def select_rows(cache: list, rows: list) -> None:
    """Replace every layer's batch with the given rows (reorder, repeat or drop beams)."""
    index = mx.array(rows, dtype=mx.int32)
    for layer in cache:
        if layer.keys is None:
            continue
        layer.keys, layer.values = layer.keys[index], layer.values[index]
        mx.eval(layer.keys, layer.values)  # frees the old rows of this layer before the next one is copied


def cache_nbytes(cache: list) -> int:
    return sum(layer.nbytes for layer in cache)
