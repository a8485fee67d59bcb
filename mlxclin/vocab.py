"""Offline resolver for the o200k vocabulary that openai-harmony needs.

openai-harmony reads `o200k_base.tiktoken` from the folder named by TIKTOKEN_ENCODINGS_BASE, or downloads it.
We point it at a local copy: the user's folder if set, else our cache, materialized from the `bpe-openai`
package (which ships the same file gzipped) when needed. The sha256 is checked so a wrong file never slips in.
"""

import functools
import gzip
import os
import shutil
from pathlib import Path
from typing import Optional

from mlxclin.data import sha256_of
from mlxclin.errors import MlxclinError
from mlxclin.paths import cache_dir

VOCAB_FILE = "o200k_base.tiktoken"
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
ENV = "TIKTOKEN_ENCODINGS_BASE"


def _bpe_openai_gz() -> Optional[Path]:
    try:
        import bpe_openai
    except ImportError:
        return None
    gz = Path(bpe_openai.__file__).parent / "data" / f"{VOCAB_FILE}.gz"
    return gz if gz.exists() else None


def vocab_dir(materialize: bool = True) -> Optional[Path]:
    """Folder holding a verified o200k_base.tiktoken, or None (or an error) when none can be had offline."""
    folder = Path(os.environ[ENV]) if os.environ.get(ENV) else cache_dir() / "tiktoken"
    target = folder / VOCAB_FILE
    if target.exists():
        return folder
    if not materialize:
        return None
    gz = _bpe_openai_gz()
    if gz is None:
        raise MlxclinError(
            f"the o200k vocabulary is not available offline: install `bpe-openai` (pip install bpe-openai) "
            f"or put {VOCAB_FILE} in a folder named by {ENV}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    if sha256_of(tmp) != VOCAB_SHA256:
        tmp.unlink()
        raise MlxclinError(f"{gz} does not decompress to the expected o200k_base vocabulary (sha256 mismatch)")
    os.replace(tmp, target)  # atomic: concurrent processes never see a half-written file
    return folder


def vocab_file() -> Path:
    return vocab_dir() / VOCAB_FILE


@functools.lru_cache(maxsize=1)
def harmony_encoding():
    """The gpt-oss Harmony encoding from openai-harmony, loaded without network access."""
    os.environ[ENV] = str(vocab_dir())
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
