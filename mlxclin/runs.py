"""A run directory: everything an evaluation produced, enough to recompute every number from files alone.

  config.json    fully resolved settings, versions, model fingerprint, hardware
  samples.jsonl  one line per item x run x effort, appended and flushed as each finishes (crash-safe)
  metrics.json   accuracy / agreement statistics (README, "metrics.json")
  perf.json      speed and memory aggregates per effort

Resuming reads samples.jsonl, drops a half-written last line left by a kill, and skips finished request ids.
"""

import hashlib
import json
import os
from pathlib import Path

from mlxclin.errors import MlxclinError

CONFIG, SAMPLES, METRICS, PERF = "config.json", "samples.jsonl", "metrics.json", "perf.json"


def write_json(path: Path, obj) -> None:
    """Atomic: a reader (or a crash) never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def model_fingerprint(model_dir) -> str:
    """Content hash of a model folder that is cheap on 60 GB checkpoints: config and index files in full, and for
    each weight file its name, size and the first and last MiB."""
    h = hashlib.sha256()
    folder = Path(model_dir)
    for f in sorted(folder.iterdir()):
        if not f.is_file():
            continue
        h.update(f.name.encode())
        if f.suffix == ".safetensors":
            size = f.stat().st_size
            h.update(str(size).encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read(1 << 20))
        elif f.suffix in (".json", ".jinja"):
            h.update(f.read_bytes())
    return h.hexdigest()


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def prepare(self, config: dict, identity_keys: tuple, overwrite: bool) -> bool:
        """Create or reopen the run dir. Returns True when resuming. A changed configuration is refused."""
        self.path.mkdir(parents=True, exist_ok=True)
        old_file = self.file(CONFIG)
        if overwrite:
            for name in (SAMPLES, METRICS, PERF):
                self.file(name).unlink(missing_ok=True)
        elif old_file.exists() and self.file(SAMPLES).exists():
            old = json.loads(old_file.read_text(encoding="utf-8"))
            changed = [k for k in identity_keys if old.get(k) != config.get(k)]
            if changed:
                k = changed[0]
                raise MlxclinError(f"{self.path} holds a run with different settings ({k}: {old.get(k)!r} -> "
                                   f"{config.get(k)!r}); use another --out, or --overwrite to start over")
            write_json(old_file, config)
            return True
        write_json(old_file, config)
        return False

    def read_samples(self) -> list:
        """Finished samples; a truncated last line (killed mid-write) is cut off the file."""
        path = self.file(SAMPLES)
        if not path.exists():
            return []
        data = path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        if good_end < len(data):
            with open(path, "r+b") as f:
                f.truncate(good_end)
            data = data[:good_end]
        out = []
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn line in the middle cannot happen with append+flush, but never crash on it
        return out

    def append_samples(self, samples: list) -> None:
        with open(self.file(SAMPLES), "a", encoding="utf-8") as f:
            for s in samples:
                f.write(json.dumps(s, ensure_ascii=False, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
