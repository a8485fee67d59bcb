"""Writing safetensors files piece by piece, so no tensor has to exist whole in memory.

The safetensors header lists every tensor's dtype, shape and byte range, so once the names, dtypes and shapes are
known the file can be laid out up front and each tensor written in row chunks at its offset. Used by the toy
checkpoint generator (random tensors of real width, made chunk by chunk) and by `convert` (each output tensor
computed and written in chunks, then dropped).
"""

import json
import math
from pathlib import Path

import numpy as np

from mlxclin.errors import MlxclinError

ITEM_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "U32": 4, "I32": 4, "I64": 8, "F64": 8}
MLX_TO_SAFETENSORS = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "uint8": "U8", "uint32": "U32",
                      "int32": "I32"}


def safetensors_dtype(mx_dtype) -> str:
    name = str(mx_dtype).rsplit(".", 1)[-1]
    if name not in MLX_TO_SAFETENSORS:
        raise MlxclinError(f"cannot store dtype {name} in safetensors here")
    return MLX_TO_SAFETENSORS[name]


def tensor_bytes(dtype: str, shape) -> int:
    return ITEM_BYTES[dtype] * math.prod(shape)


def raw_bytes(array) -> np.ndarray:
    """An MLX (or numpy) array's bytes as a numpy array, without changing them (bf16 is viewed as uint16)."""
    import mlx.core as mx

    if isinstance(array, np.ndarray):
        return np.ascontiguousarray(array)
    if array.dtype == mx.bfloat16:
        array = array.view(mx.uint16)
    return np.array(array, copy=False)


class SafetensorsWriter:
    """Lay out a safetensors file for `specs` [(name, dtype, shape)] and fill it with write(name, rows, start_row).

    close() checks that every byte of every tensor was written exactly once, so a gap is an error, not zeros.
    """

    def __init__(self, path, specs: list, metadata: dict = None):
        self.path = Path(path)
        header, offset, self.layout = {}, 0, {}
        for name, dtype, shape in specs:
            size = tensor_bytes(dtype, shape)
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            row = size // shape[0] if shape and shape[0] else size
            self.layout[name] = (offset, size, row)
            offset += size
        if metadata:
            header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)  # data starts 8-byte aligned, as the reference writer does
        self.data_start = 8 + len(blob)
        self.written = {name: 0 for name in self.layout}
        self.file = open(self.path, "wb")
        self.file.write(len(blob).to_bytes(8, "little") + blob)
        self.file.truncate(self.data_start + offset)

    def write(self, name: str, rows, start_row: int = 0) -> None:
        data = raw_bytes(rows)
        offset, size, row = self.layout[name]
        begin = start_row * row
        if begin + data.nbytes > size:
            raise ValueError(f"{name}: write past the end of the tensor ({begin + data.nbytes} > {size} bytes)")
        self.file.seek(self.data_start + offset + begin)
        self.file.write(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        self.written[name] += data.nbytes

    def close(self) -> None:
        self.file.close()
        short = [n for n, (_, size, _) in self.layout.items() if self.written[n] != size]
        if short:
            raise RuntimeError(f"{self.path.name}: tensor(s) not fully written: {', '.join(short[:5])}")

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            self.close()
        else:
            self.file.close()


def row_chunks(rows: int, row_bytes: int, chunk_bytes: int = 64 << 20):
    """(start, stop) row ranges of about chunk_bytes each."""
    step = max(1, chunk_bytes // max(row_bytes, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def contiguous_shards(sizes: list, n_shards: int) -> list:
    """Shard number for each tensor (in order): contiguous runs of about equal bytes, no shard empty."""
    total = sum(sizes) or 1
    target, done, out = total / n_shards, 0, []
    for size in sizes:
        out.append(min(n_shards - 1, int((done + size / 2) // target)))
        done += size
    renumber = {s: i for i, s in enumerate(sorted(set(out)))}
    return [renumber[s] for s in out]
