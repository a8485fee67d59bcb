"""Scale-out on MLX's own distributed engine (`mx.distributed`: ring over TCP, JACCL over Thunderbolt 5, MPI).

Processes are started by `mlx.launch` (`-n 2` on one machine, `--hostfile hosts.json` across Macs), which runs
`python -m mlxclin ...` once per rank with MLX_RANK / MLX_HOSTFILE set. A process started any other way is a world
of one, and every helper here is then a no-op, so single-machine code paths stay unchanged.

- world info (rank, size, hosts) and rank-0 helpers (only rank 0 prints and writes user-visible files);
- splitting work across ranks and gathering small JSON results back;
- tensor parallelism through mlx-lm (`sharded_load` + gpt-oss `Model.shard()`), with a pre-flight check that refuses
  a checkpoint whose heads or quantization groups cannot split N ways, before anything is loaded.
"""

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from mlxclin.errors import MlxclinError

MXFP4_GROUP = 32                   # fixed by the format


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    hosts: tuple        # one entry per rank: the address it listens on ("127.0.0.1" for a local launch)
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "hosts": list(self.hosts)}


LAUNCH_VARIABLES = ("MLX_RANK", "MLX_HOSTFILE", "MLX_JACCL_COORDINATOR", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def launched() -> bool:
    """Started by `mlx.launch` (or MPI)? Checked from the environment, so a plain run never imports mlx for it."""
    return any(v in os.environ for v in LAUNCH_VARIABLES)


@lru_cache(maxsize=1)
def world() -> World:
    """This process's place in the launch; a world of one when not started by `mlx.launch`."""
    import mlx.core as mx

    group = mx.distributed.init()   # the singleton group when no backend is configured
    if group.size() == 1:
        return World(0, 1, (socket.gethostname(),), "none")
    backend = "jaccl" if "MLX_JACCL_COORDINATOR" in os.environ else "ring" if "MLX_HOSTFILE" in os.environ else "mpi"
    return World(group.rank(), group.size(), tuple(launch_hosts()), backend)


def launch_hosts() -> list:
    """Per-rank host addresses from the hostfile `mlx.launch` hands each rank of a ring launch ([["ip:port", ...],
    ...]); JACCL and MPI launches pass no host list (empty)."""
    path = os.environ.get("MLX_HOSTFILE")
    if not path or not Path(path).is_file():
        return []
    data = json.loads(Path(path).read_text())
    entries = data.get("hosts", []) if isinstance(data, dict) else data
    hosts = []
    for entry in entries:
        if isinstance(entry, list):   # ring: the addresses of one rank
            hosts.append(",".join(sorted({a.rsplit(":", 1)[0] for a in entry})))
        elif isinstance(entry, dict):
            hosts.append(entry.get("ssh") or ",".join(entry.get("ips", [])))
        else:
            hosts.append(str(entry))
    return hosts


def main_echo(echo: Callable) -> Callable:
    """`echo` on rank 0, silence elsewhere: `mlx.launch` merges every rank's stdout into one terminal."""
    return echo if world().is_main else (lambda *args, **kwargs: None)


def quiet_other_ranks() -> None:
    """Ranks other than 0 print nothing to stdout (progress lines included): `mlx.launch` merges every rank's
    stdout into one terminal. stderr stays, so a failure on any rank is seen."""
    if not world().is_main:
        sys.stdout = open(os.devnull, "w")


def rank_share(items: list, w: Optional[World] = None) -> list:
    """This rank's share of `items`: every size-th item from its rank on, so shares differ by at most one."""
    w = w or world()
    return list(items[w.rank::w.size])


def refuse(message: str) -> None:
    """A refusal every rank reaches identically (it depends on files and flags only): rank 0 says it in one line,
    the other ranks exit with the same code silently, so the launch prints the reason once."""
    if world().is_main:
        raise MlxclinError(message)
    raise SystemExit(MlxclinError.exit_code)


def barrier() -> None:
    import mlx.core as mx

    if world().size > 1:
        mx.eval(mx.distributed.all_sum(mx.array(1.0), stream=mx.cpu))


def all_gather_json(obj) -> list:
    """Every rank's JSON-serializable `obj`, in rank order, on every rank (one all_gather of bytes)."""
    import mlx.core as mx
    import numpy as np

    w = world()
    if w.size == 1:
        return [obj]
    payload = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)
    lengths = mx.distributed.all_gather(mx.array([payload.size], dtype=mx.int64), stream=mx.cpu)
    lengths = [int(n) for n in np.array(lengths)]
    padded = np.zeros(max(lengths), dtype=np.uint8)   # all_gather needs equal shapes on every rank
    padded[:payload.size] = payload
    gathered = np.array(mx.distributed.all_gather(mx.array(padded), stream=mx.cpu)).reshape(w.size, -1)
    return [json.loads(bytes(row[:n]).decode()) for row, n in zip(gathered, lengths)]


def broadcast_from_main(tree):
    """Rank 0's arrays on every rank (all_sum of rank 0's values and zeros elsewhere), e.g. resumed train state.
    Arrays go in sorted key order: the same tree can be built in different orders on different ranks."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    if world().size == 1:
        return tree
    keep = world().is_main
    send = lambda a: mx.distributed.all_sum(a if keep else mx.zeros_like(a), stream=mx.cpu)  # noqa: E731
    if isinstance(tree, mx.array):
        return send(tree)
    return tree_unflatten([(k, send(a) if isinstance(a, mx.array) else a) for k, a in sorted(tree_flatten(tree))])


def parameter_bytes(model) -> int:
    """Bytes of the weights this rank holds (1/N of the split layers under tensor parallelism)."""
    from mlx.utils import tree_flatten

    return sum(v.nbytes for _, v in tree_flatten(model.parameters()))


# --- tensor parallelism -------------------------------------------------------------------------------------------

def weight_names(model_dir: Path) -> set:
    """Tensor names of a checkpoint from its index (or safetensors headers), without reading any weights."""
    import struct

    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        return set(json.loads(index.read_text())["weight_map"])
    names = set()
    for shard in model_dir.glob("*.safetensors"):
        with open(shard, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            names |= set(json.loads(f.read(n))) - {"__metadata__"}
    return names


def _group_size(quantization: dict, module: str) -> int:
    specific = quantization.get(module)
    return (specific if isinstance(specific, dict) else quantization).get("group_size", 64)


def tensor_split_problems(config: dict, names: set, n: int) -> list:
    """Why gpt-oss `Model.shard()` cannot split this checkpoint n ways (empty list: it can).

    Heads are split across ranks; gate/up projections by output rows; down_proj and o_proj along their input,
    which for quantized weights must fall on whole quantization groups.
    """
    problems = []
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    if heads % n or kv_heads % n:
        problems.append(f"{heads} query / {kv_heads} KV heads do not divide by {n}")
    quantization = config.get("quantization") or {}
    layer = "model.layers.0"
    checks = (("mlp.experts.down_proj", config["intermediate_size"]),
              ("self_attn.o_proj", heads * config.get("head_dim", config["hidden_size"] // heads)))
    for module, width in checks:
        path = f"{layer}.{module}"
        if f"{path}.scales" not in names:
            if width % n:
                problems.append(f"{module} input width {width} does not divide by {n}")
            continue
        group = _group_size(quantization, path)
        if (width // group) % n:
            problems.append(f"{module} has {width // group} quantization groups of {group} ({width}/{group}), "
                            f"which do not divide by {n}")
    return problems


def split_suggestion(config: dict, n: int) -> str:
    """Which convert recipe / group size would let the experts split n ways."""
    from mlxclin.models.convert import GROUP_SIZES

    width = config["intermediate_size"]
    fits = [g for g in GROUP_SIZES if width % g == 0 and (width // g) % n == 0]
    if fits:
        mxfp4 = "--recipe mxfp4 (group 32) or " if MXFP4_GROUP in fits else ""
        return f"`mlxclin convert` with {mxfp4}--recipe q4/q8 --group-size {fits[0]} splits {n} ways"
    if width % n == 0:
        return f"no quantization group size splits {width} {n} ways; `mlxclin convert --recipe bf16` (dense) does"
    return f"no recipe splits an intermediate size of {width} {n} ways"


def max_head_split(config: dict) -> int:
    """The largest number of ranks the attention heads allow (KV heads are never duplicated by Model.shard())."""
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    return max(n for n in range(1, kv_heads + 1) if heads % n == 0 and kv_heads % n == 0)


def check_tensor_split(model_dir, n: int) -> None:
    """Pre-flight for `--shard tensor`: one line, before loading, when the checkpoint cannot split n ways."""
    model_dir = Path(model_dir)
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        refuse(f"{model_dir}: cannot read config.json for --shard tensor ({e})")
    if config.get("model_type") != "gpt_oss":
        refuse(f"{model_dir}: --shard tensor supports gpt-oss checkpoints (model_type {config.get('model_type')!r})")
    problems = tensor_split_problems(config, weight_names(model_dir), n)
    if problems:
        hints = []
        if any("heads" in p for p in problems):
            hints.append(f"the heads allow at most {max_head_split(config)} ways")
        if any("groups" in p or "width" in p for p in problems):
            hints.append(split_suggestion(config, n))
        refuse(f"{model_dir} cannot be split {n} ways with --shard tensor: {'; '.join(problems)} "
               f"({'; '.join(hints)})")


def load_sharded(model_dir, group, adapter_path: Optional[str] = None):
    """mlx-lm's `sharded_load` (tensor group: gpt-oss `Model.shard()`), plus mlxclin's gpt-oss fixes."""
    from mlx_lm.utils import sharded_load

    from mlxclin.models.gpt_oss import fix_rope, make_cpu_runnable

    if adapter_path:
        raise MlxclinError("--adapter-path cannot be combined with --shard tensor; fuse the adapter first "
                           "(mlxclin finetune fuse) and shard the fused model")
    check_tensor_split(model_dir, group.size())
    model, tokenizer, config = sharded_load(str(model_dir), tensor_group=group, return_config=True)
    fix_rope(model, config)
    make_cpu_runnable(model)
    return model, tokenizer, config
