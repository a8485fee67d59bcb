"""A fixed-cost fake language model for timing tests of the MLX backend (mlx-lm's BatchGenerator drives it).

Each forward call over B sequences of L tokens sleeps max(call_s, token_s * B * L) seconds: a roofline, where a
decode step (L = 1) costs call_s whatever the batch (reading the weights once: bandwidth-bound) and a prefill costs
token_s per token (compute-bound). Expected TTFTs are therefore known. The next token is always
(last token + 1) mod vocab, so a request runs to its max_tokens. A prompt is the user message "N": N tokens.
"""

import time

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import KVCache

VOCAB = 1000


class FixedCostModel(nn.Module):
    def __init__(self, call_s: float, token_s: float):
        super().__init__()
        self.call_s, self.token_s = call_s, token_s
        self.calls = []   # (batch, length) of every forward call

    def make_cache(self):
        return [KVCache()]

    def __call__(self, inputs, cache=None, **_):
        batch, length = inputs.shape
        self.calls.append((batch, length))
        time.sleep(max(self.call_s, self.token_s * batch * length))
        if cache:
            cache[0].update_and_fetch(mx.zeros((batch, 1, length, 1)), mx.zeros((batch, 1, length, 1)))
        return mx.eye(VOCAB)[(inputs + 1) % VOCAB] * 20.0


class FakeTokenizer:
    eos_token_ids = {VOCAB - 1}

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        n = int(messages[-1]["content"])
        return [(7 * i + n) % (VOCAB - 2) for i in range(n)]  # no shared prefix between lengths

    def decode(self, ids):
        return " ".join(str(i) for i in ids)

    def encode(self, text, add_special_tokens=False):
        return text.split()


def fake_backend(call_s: float, token_s: float, batch_size: int = 1):
    from mlxclin.backends.mlx import MLXBackend

    model = FixedCostModel(call_s, token_s)
    return MLXBackend("fake", batch_size=batch_size, prefix_cache=False,
                      loaded=(model, FakeTokenizer(), {"model_type": "fake"}))
