"""The real gpt-oss tokenizer (o200k_harmony), built offline as a Hugging Face `tokenizer.json`.

The BPE ranks come from o200k_base (see `vocab.py`); transformers' TikTokenConverter turns them into a
byte-level BPE; the Harmony special tokens are appended in id order so they land at their real ids
199998-201087 (openai-harmony also knows `<|reserved_201088|>`, which is past the model's 201,088-row
embedding and is left out, as in the released checkpoints). Token ids therefore equal openai-harmony's.
"""

import base64
import json
import os
import shutil
from pathlib import Path

from mlxclin.paths import cache_dir
from mlxclin.vocab import VOCAB_SHA256, harmony_encoding, vocab_file

VOCAB_SIZE = 201088
# o200k_base's pre-tokenization pattern (tiktoken's `o200k_base` definition).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
BOS, EOS, PAD = "<|startoftext|>", "<|return|>", "<|endoftext|>"
TEMPLATE = Path(__file__).with_name("harmony_chat_template.jinja")


def harmony_special_tokens() -> list:
    """(id, token) for every Harmony special token inside the model vocabulary, in id order."""
    enc = harmony_encoding()
    pairs = [(enc.encode(t, allowed_special="all")[0], t) for t in enc.special_tokens_set]
    return sorted(p for p in pairs if p[0] < VOCAB_SIZE)


def _tokenizer_json() -> Path:
    """Build (once per machine, then cached) the tokenizer.json; ~4 s of work."""
    cached = cache_dir() / "tokenizer" / f"gpt-oss-o200k_harmony-{VOCAB_SHA256[:12]}.json"
    if cached.exists():
        return cached
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _Converter(TikTokenConverter):
        @staticmethod
        def load_tiktoken_bpe(path):  # the file is "base64(token) rank" per line; no tiktoken needed
            with open(path, "rb") as f:
                return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in f if line.strip())}

    tok = _Converter(vocab_file=str(vocab_file()), pattern=O200K_PATTERN).converted()
    specials = harmony_special_tokens()
    assert specials[0][0] == tok.get_vocab_size(), "Harmony specials must follow the o200k ranks directly"
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for _, t in specials])
    assert tok.get_vocab_size() == VOCAB_SIZE
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tok.save(str(tmp))
    os.replace(tmp, cached)
    return cached


def write_tokenizer(out_dir: Path) -> None:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json and chat_template.jinja."""
    out_dir = Path(out_dir)
    shutil.copyfile(_tokenizer_json(), out_dir / "tokenizer.json")
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for i, t in harmony_special_tokens()}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": EOS, "pad_token": PAD,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 1000000000000000019884624838656,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": added,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (out_dir / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}, indent=2))
    shutil.copyfile(TEMPLATE, out_dir / "chat_template.jinja")
