"""The o200k vocabulary resolves offline: from TIKTOKEN_ENCODINGS_BASE, the cache, or bpe-openai."""

import pytest

from mlxclin import vocab
from mlxclin.errors import MlxclinError


def test_materializes_from_bpe_openai_with_checked_sha(tmp_path, monkeypatch):
    pytest.importorskip("bpe_openai")
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(tmp_path / "enc"))
    folder = vocab.vocab_dir()
    assert folder == tmp_path / "enc"
    assert vocab.sha256_of(folder / vocab.VOCAB_FILE) == vocab.VOCAB_SHA256


def test_uses_cache_dir_when_env_unset(tmp_path, monkeypatch):
    pytest.importorskip("bpe_openai")
    monkeypatch.delenv("TIKTOKEN_ENCODINGS_BASE", raising=False)
    monkeypatch.setenv("MLXCLIN_CACHE", str(tmp_path / "cache"))
    assert vocab.vocab_dir() == tmp_path / "cache" / "tiktoken"


def test_clear_error_without_any_source(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(tmp_path / "empty"))
    monkeypatch.setattr(vocab, "_bpe_openai_gz", lambda: None)
    with pytest.raises(MlxclinError, match="bpe-openai"):
        vocab.vocab_dir()
    assert vocab.vocab_dir(materialize=False) is None


def test_wrong_file_is_rejected(tmp_path, monkeypatch):
    import gzip

    bad = tmp_path / "bad.tiktoken.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"not the vocabulary")
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(tmp_path / "enc"))
    monkeypatch.setattr(vocab, "_bpe_openai_gz", lambda: bad)
    with pytest.raises(MlxclinError, match="sha256"):
        vocab.vocab_dir()
    assert not (tmp_path / "enc" / vocab.VOCAB_FILE).exists()
