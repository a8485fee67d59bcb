"""A run directory: everything an evaluation produced, enough to recompute every number from files alone.

  config.json    fully resolved settings, versions, model fingerprint, hardware, schema version
  samples.jsonl  one line per item x run x effort, appended and fsynced as each finishes (crash-safe)
  metrics.json   accuracy / agreement statistics (docs/evaluation.md, "metrics.json")
  perf.json      speed and memory aggregates per effort (docs/evaluation.md, "perf.json")
  .lock          held (flock) by the one process writing here; a lock left by a killed process is stale

Resuming reads samples.jsonl, drops a half-written last line left by a kill, drops samples whose request failed
(status "error", so they are asked again) and skips the request ids that remain.
"""

import fcntl
import hashlib
import json
import os
from pathlib import Path

from mlxclin.errors import MlxclinError

CONFIG, SAMPLES, METRICS, PERF, LOCK = "config.json", "samples.jsonl", "metrics.json", "perf.json", ".lock"
SCHEMA_VERSION = 2  # 2: typed sample status, per-request timing from insertion, error-aware resume
# identity settings added within schema 2, with the value every run written before them used: such a run resumes
ADDED_SETTINGS = {"top_k": 0, "min_p": 0.0, "presence_penalty": 0.0}


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
        self._lock_fd = None
        self.stale_lock_pid = None   # set when lock() took over a lock a killed process left behind

    def file(self, name: str) -> Path:
        return self.path / name

    # --- one writer at a time --------------------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold the run directory for this process. flock dies with its process, so a lock file left by a killed
        writer is recognised as stale (its pid is reported) and taken over; a live writer is refused in one line."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise MlxclinError(f"{self.path} is being written by another mlxclin process (pid {holder}); wait for "
                               f"it to finish or use another --out") from None
        previous = os.read(fd, 64).decode(errors="replace").strip()
        if previous and previous != str(os.getpid()):
            self.stale_lock_pid = previous
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- settings --------------------------------------------------------------------------------------------------
    def prepare(self, config: dict, identity_keys: tuple, overwrite: bool) -> bool:
        """Create or reopen the run dir. Returns True when resuming. A changed configuration is refused."""
        self.path.mkdir(parents=True, exist_ok=True)
        config = {**config, "schema_version": SCHEMA_VERSION}
        old_file = self.file(CONFIG)
        if overwrite:
            for name in (SAMPLES, METRICS, PERF):
                self.file(name).unlink(missing_ok=True)
        elif old_file.exists() and self.file(SAMPLES).exists():
            old = self.read_config()
            changed = [k for k in ("schema_version", *identity_keys)
                       if old.get(k, ADDED_SETTINGS.get(k)) != config.get(k)]
            if changed:
                k = changed[0]
                raise MlxclinError(f"{self.path} holds a run with different settings ({k}: "
                                   f"{old.get(k, ADDED_SETTINGS.get(k))!r} -> "
                                   f"{config.get(k)!r}); use another --out, or --overwrite to start over")
            write_json(old_file, config)
            return True
        write_json(old_file, config)
        return False

    def read_config(self) -> dict:
        path = self.file(CONFIG)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MlxclinError(f"{path} is not readable JSON ({e}); use another --out, or --overwrite") from None
        if not isinstance(config, dict):
            raise MlxclinError(f"{path} is not a JSON object; use another --out, or --overwrite")
        return config

    # --- samples ---------------------------------------------------------------------------------------------------
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
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise MlxclinError(f"{path} line {number} is not valid JSON (edited by hand?); fix or delete "
                                       f"that line, or use --overwrite") from None
        return out

    def drop_failed_samples(self) -> int:
        """Remove samples whose request failed (status "error") and repeated request ids (the last one wins), so a
        rerun asks those requests again and ends with one sample per request. Atomic rewrite; returns how many."""
        samples = self.read_samples()
        last = {s.get("request_id"): s for s in samples}
        keep = [s for s in last.values() if s.get("status") != "error"]
        if len(keep) == len(samples):
            return 0
        tmp = self.file(f".{SAMPLES}.tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            for s in keep:
                f.write(json.dumps(s, ensure_ascii=False, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.file(SAMPLES))
        return len(samples) - len(keep)

    def append_samples(self, samples: list, sync: bool = True) -> None:
        """Append and flush; fsync too unless the samples are cheap to recompute (replays)."""
        with open(self.file(SAMPLES), "a", encoding="utf-8") as f:
            for s in samples:
                f.write(json.dumps(s, ensure_ascii=False, allow_nan=False) + "\n")
            f.flush()
            if sync:
                os.fsync(f.fileno())
