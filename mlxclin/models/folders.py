"""Checks on a model or adapter folder before anything loads it, so a bad folder is one line naming the file and
key instead of a JSONDecodeError / TypeError / tokenizer traceback from deep inside mlx-lm or transformers."""

from pathlib import Path

from mlxclin.data import read_json_object
from mlxclin.errors import MlxclinError

# A tokenizer folder holds one of these (fast tokenizer, sentencepiece, or BPE vocab + merges).
TOKENIZER_CHOICES = (("tokenizer.json",), ("tokenizer.model",), ("vocab.json", "merges.txt"))
ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapters.safetensors"


def _expect(path, doc: dict, key: str, kinds, what: str):
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, kinds):   # bool is an int to Python, never to us
        raise MlxclinError(f"{path}: key {key!r} should be {kinds.__name__}, found {value!r}; the {what} is damaged")
    return value


def check_model_folder(path) -> dict:
    """The folder's config.json (an object with a model_type) after checking that a tokenizer is present."""
    path = Path(path)
    if not path.exists():
        raise MlxclinError(f"model folder not found: {path} (convert one with `mlxclin convert`, or "
                           f"`mlxclin toy-model` for a tiny test model)")
    if not path.is_dir():
        raise MlxclinError(f"{path} is a file; --model takes a model folder holding config.json and weights")
    if not (path / "config.json").is_file():
        raise MlxclinError(f"{path} is not a model folder (no config.json); convert one with `mlxclin convert`")
    config = read_json_object(path / "config.json", "model configuration")
    _expect(path / "config.json", config, "model_type", str, "model configuration")
    if not any(all((path / f).is_file() for f in files) for files in TOKENIZER_CHOICES):
        raise MlxclinError(f"{path} has no tokenizer (tokenizer.json); copy the tokenizer files from the "
                           f"checkpoint it was converted from, or convert it again with `mlxclin convert`")
    if (path / "tokenizer.json").is_file():
        read_json_object(path / "tokenizer.json", "tokenizer")
    return config


def check_adapter_folder(path) -> dict:
    """adapter_config.json with the keys mlx-lm's load_adapters reads, and the weights file beside it."""
    path = Path(path)
    if not path.is_dir():
        raise MlxclinError(f"adapter folder not found: {path} (pass the --out folder `mlxclin finetune` wrote)")
    what = "adapter configuration"
    config_file = path / ADAPTER_CONFIG
    if not config_file.is_file():
        raise MlxclinError(f"{path} holds no {ADAPTER_CONFIG}; pass the folder `mlxclin finetune` wrote")
    doc = read_json_object(config_file, what)
    _expect(config_file, doc, "fine_tune_type", str, what)
    _expect(config_file, doc, "num_layers", int, what)
    lora = _expect(config_file, doc, "lora_parameters", dict, what)
    for key in ("rank", "scale"):
        if not isinstance(lora.get(key), (int, float)) or isinstance(lora.get(key), bool):
            raise MlxclinError(f"{config_file}: key 'lora_parameters.{key}' should be a number, found "
                               f"{lora.get(key)!r}; the {what} is damaged")
    if not (path / ADAPTER_WEIGHTS).is_file():
        raise MlxclinError(f"{path} holds no {ADAPTER_WEIGHTS}; training never saved a checkpoint there")
    return doc
