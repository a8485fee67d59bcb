"""The machines of an `mlx.launch` hostfile, checked before a launch: reachable over ssh, the same mlxclin / mlx /
mlx-lm versions, memory, and which gpt-oss models fit when split across them (`--shard tensor`) or replicated
(data parallel). Plus what JACCL (RDMA over Thunderbolt 5) needs on macOS.

Each host runs `python -m mlxclin doctor --json` (over `ssh`, or directly for this machine), with the same Python
path as here: `mlx.launch` makes the same assumption.
"""

import json
import platform
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mlxclin.errors import MlxclinError

LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}
VERSION_KEYS = ("mlxclin", "mlx", "mlx_lm")
VOCAB, HEAD_DIM = 201088, 64

# Released gpt-oss shapes (config.json on the Hub); the split check and the sizes below are computed from them.
GPT_OSS = {
    "gpt-oss-20b (mxfp4)": {"num_hidden_layers": 24, "num_local_experts": 32},
    "gpt-oss-120b (mxfp4)": {"num_hidden_layers": 36, "num_local_experts": 128},
}
GPT_OSS_COMMON = {"num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": HEAD_DIM, "hidden_size": 2880,
                  "intermediate_size": 2880, "quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}}


@dataclass
class HostReport:
    index: int
    ssh: str
    reachable: bool
    info: dict = field(default_factory=dict)
    error: Optional[str] = None

    def usable_gb(self) -> Optional[float]:
        if not self.reachable:
            return None
        return self.info.get("max_recommended_working_set_gb") or self.info["memory_gb"] * 0.75


def read_hostfile(path) -> list:
    """ssh names from an mlx.launch hostfile: [{"ssh": ..., "ips": [...]}, ...] or {"hosts": [...], ...}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MlxclinError(f"--hosts {path}: not a readable JSON hostfile ({e})") from None
    hosts = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(hosts, list) or not hosts:
        raise MlxclinError(f"--hosts {path}: expected a list of hosts (or {{\"hosts\": [...]}}), as for mlx.launch")
    names = []
    for i, host in enumerate(hosts):
        if not isinstance(host, dict) or not isinstance(host.get("ssh"), str) or not host["ssh"]:
            raise MlxclinError(f"--hosts {path}: host {i} has no \"ssh\" name")
        names.append(host["ssh"])
    return names


def is_local(name: str) -> bool:
    return name in LOCAL_NAMES or name in (socket.gethostname(), platform.node())


def probe(name: str, timeout: float = 120) -> tuple:
    """(doctor --json dict, None) from one host, or (None, why not)."""
    command = [sys.executable, "-m", "mlxclin", "doctor", "--json"]
    if not is_local(name):
        command = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", name, shlex.join(command)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None, "ssh is not installed here"
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout:.0f} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return None, last
    try:
        return json.loads(done.stdout), None
    except json.JSONDecodeError:
        return None, "`mlxclin doctor --json` printed no JSON there (is mlxclin installed at the same path?)"


def check_hosts(names: list) -> list:
    """One HostReport per hostfile entry (hosts listed twice, like a local `-n 2`, are probed once)."""
    answers = {name: probe(name) for name in dict.fromkeys(names)}
    return [HostReport(i, name, answers[name][0] is not None, answers[name][0] or {}, answers[name][1])
            for i, name in enumerate(names)]


def version_mismatches(reports: list) -> list:
    """'host 1 (b): mlx 0.31.0, host 0: 0.32.4' for every version that differs from the first reachable host."""
    up = [r for r in reports if r.reachable]
    if not up:
        return []
    ref = up[0]
    return [f"host {r.index} ({r.ssh}): {key} {r.info.get(key)}, host {ref.index}: {ref.info.get(key)}"
            for r in up[1:] for key in VERSION_KEYS if r.info.get(key) != ref.info.get(key)]


def gpt_oss_weights_gb(layers: int, experts: int) -> tuple:
    """(split GB, replicated GB) of an mxfp4 gpt-oss: experts at 4.25 bits (4-bit codes + an 8-bit scale per 32)
    and bf16 attention are split by `Model.shard()`; embeddings and lm_head (bf16) stay whole on every rank."""
    h, inter, heads, kv = 2880, 2880, 64, 8
    experts_b = layers * experts * 3 * h * inter * 4.25 / 8
    attention_b = layers * 2 * (2 * h * heads * HEAD_DIM + 2 * h * kv * HEAD_DIM)
    return (experts_b + attention_b) / 1e9, 2 * VOCAB * h * 2 / 1e9


def split_fits(reports: list, headroom_gb: float) -> list:
    """Per model: the memory each host needs when split len(reports) ways or replicated, and which hosts lack it."""
    from mlxclin.distributed import tensor_split_problems

    n = len(reports)
    rows = []
    for name, shape in GPT_OSS.items():
        split_gb, whole_gb = gpt_oss_weights_gb(shape["num_hidden_layers"], shape["num_local_experts"])
        problems = tensor_split_problems({**GPT_OSS_COMMON, **shape},
                                         {"model.layers.0.mlp.experts.down_proj.scales"}, n)
        per_host = split_gb / n + whole_gb + headroom_gb
        replicated = split_gb + whole_gb + headroom_gb
        short = [r.index for r in reports if r.reachable and r.usable_gb() < per_host]
        short_replicated = [r.index for r in reports if r.reachable and r.usable_gb() < replicated]
        rows.append({"model": name, "ways": n, "splits": not problems, "why_not": "; ".join(problems),
                     "per_host_gb": round(per_host, 1), "hosts_short": short,
                     "replicated_gb": round(replicated, 1), "hosts_short_replicated": short_replicated})
    return rows


def format_host(r: HostReport) -> str:
    if not r.reachable:
        return f"host {r.index} {r.ssh}: UNREACHABLE ({r.error})"
    i = r.info
    return (f"host {r.index} {r.ssh}: reachable · {i.get('os')} {i.get('chip')} · {i['memory_gb']} GB "
            f"({r.usable_gb():.1f} GB usable) · mlxclin {i.get('mlxclin')} · mlx {i.get('mlx')} · "
            f"mlx-lm {i.get('mlx_lm')}")


def format_fit(row: dict) -> str:
    if not row["splits"]:
        split = f"cannot split {row['ways']} ways ({row['why_not']})"
    elif row["hosts_short"]:
        split = f"split {row['ways']} ways needs ~{row['per_host_gb']} GB per host: too little on host(s) " \
                f"{', '.join(map(str, row['hosts_short']))}"
    else:
        split = f"split {row['ways']} ways (--shard tensor): ~{row['per_host_gb']} GB per host, fits"
    whole = "fits on every host" if not row["hosts_short_replicated"] else \
        f"not on host(s) {', '.join(map(str, row['hosts_short_replicated']))}"
    return f"{row['model']:<22} {split}; whole model per host (data parallel, ~{row['replicated_gb']} GB): {whole}"


def jaccl_prerequisites(os_name: str, rdma_devices: Optional[list]) -> list:
    """What JACCL (MLX's RDMA over Thunderbolt 5 backend) needs, and what this Mac still lacks."""
    if not os_name.startswith("Darwin"):
        return ["JACCL (RDMA over Thunderbolt 5) is macOS-only; between other machines use the ring backend (TCP)"]
    lines = ["JACCL: RDMA over Thunderbolt 5 between Macs with Thunderbolt 5 ports (M4 Pro/Max, M3 Ultra), "
             "macOS 26.2 or later, each pair of Macs cabled directly (a ring or a full mesh, no hub)",
             "JACCL: enable RDMA once per Mac: start in recovery mode, open Terminal, run `rdma_ctl enable`, restart",
             "JACCL: `mlx.distributed_config --backend jaccl --over thunderbolt --hosts mac1,mac2 "
             "--output-hostfile hosts.json` writes the hostfile; then `mlx.launch --hostfile hosts.json ...`"]
    if rdma_devices is None:
        lines.append("JACCL: `ibv_devices` is not available here: RDMA is not enabled (or macOS is older than 26.2)")
    elif not rdma_devices:
        lines.append("JACCL: `ibv_devices` lists no rdma_* device: run `rdma_ctl enable` from recovery mode")
    else:
        lines.append(f"JACCL: RDMA enabled ({', '.join(rdma_devices)})")
    return lines


def local_rdma_devices() -> Optional[list]:
    """rdma_* devices from `ibv_devices` (None where the tool does not exist)."""
    try:
        out = subprocess.run(["ibv_devices"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [word for word in out.split() if word.startswith("rdma_")]
