"""Finding and checking a source checkpoint before anything heavy runs, so bad input fails in one line."""

import json
import struct
from pathlib import Path

from mlxclin.errors import MlxclinError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json", "tokenizer.model", "vocab.json", "merges.txt")


def resolve_source(src: str) -> Path:
    """A local folder, or a Hugging Face repo id downloaded with huggingface_hub (cached)."""
    path = Path(src).expanduser()
    if path.exists():
        if not path.is_dir():
            raise MlxclinError(f"{src} is a file; expected a checkpoint folder")
        return path
    if src.startswith((".", "/", "~")) or src.count("/") != 1:
        raise MlxclinError(f"{src}: no such folder (and not a Hugging Face repo id like openai/gpt-oss-20b)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(src, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt"]))
    except Exception as e:  # offline, unknown repo, gated: all end the same way for the user
        raise MlxclinError(f"could not download {src} from the Hugging Face Hub ({type(e).__name__}); "
                           f"download it elsewhere and pass the local folder") from e


def read_config(path: Path) -> dict:
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise MlxclinError(f"{path} has no config.json; is it a Hugging Face checkpoint folder?")
    try:
        return json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MlxclinError(f"{cfg_file} is not valid JSON: {e}") from e


def safetensors_header(file: Path) -> dict:
    """name -> {"dtype", "shape", "data_offsets"} from a safetensors file's header, without reading any data."""
    with open(file, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


def check_safetensors(file: Path) -> None:
    """The header parses and the file is as long as the header says (catches truncated downloads)."""
    size = file.stat().st_size
    with open(file, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise MlxclinError(f"{file.name} is truncated or not a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8:
            raise MlxclinError(f"{file.name} is truncated (header says {n} bytes, file has {size})")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MlxclinError(f"{file.name} has a corrupt safetensors header") from e
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise MlxclinError(f"{file.name} is truncated or corrupt: expected {8 + n + end} bytes, found {size}")


def check_checkpoint(path: Path, model_type: str = "gpt_oss") -> dict:
    """Validate a source folder; returns its config."""
    config = read_config(path)
    if config.get("model_type") != model_type:
        raise MlxclinError(f"{path}: model_type is {config.get('model_type')!r}, expected {model_type!r}")
    shards = sorted(path.glob("model*.safetensors"))
    if not shards:
        raise MlxclinError(f"{path} has no model*.safetensors weight files")
    index = path / "model.safetensors.index.json"
    if index.exists():
        wanted = set(json.loads(index.read_text())["weight_map"].values())
        missing = sorted(wanted - {s.name for s in shards})
        if missing:
            raise MlxclinError(f"{path} is missing shard(s) listed in its index: {', '.join(missing)}")
    for shard in shards:
        check_safetensors(shard)
    return config


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
