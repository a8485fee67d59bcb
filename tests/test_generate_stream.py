"""`mlxclin generate` streams the reply token by token (issue 11: no minutes of silence)."""

import pytest


@pytest.fixture(scope="module")
def toy_backend(toy_mlx_dir):
    from mlxclin.backends.mlx import MLXBackend

    backend = MLXBackend(toy_mlx_dir)
    yield backend
    backend.close()


def test_tokens_reach_the_callback_while_the_model_is_still_sampling(toy_backend):
    from mlxclin.backends.base import Request

    class CountingModel:
        """The toy model, counting decode steps (each samples one token)."""

        def __init__(self, model):
            self.model, self.steps = model, 0

        def __getattr__(self, name):
            return getattr(self.model, name)

        def __call__(self, inputs, *args, **kwargs):
            self.steps += inputs.shape[1] == 1
            return self.model(inputs, *args, **kwargs)

    counting = CountingModel(toy_backend.model)
    toy_backend.close()   # a fresh generator around the counting model
    toy_backend.model = counting
    seen_at = []    # how many tokens had been sampled when each token reached the callback
    request = Request(id="g", messages=[{"role": "user", "content": "Chest pain?"}], max_tokens=12, seed=0)
    (completion,) = toy_backend.stream([request], on_token=lambda _r, token: seen_at.append(counting.steps))
    toy_backend.model = counting.model
    assert len(seen_at) == completion.completion_tokens == 12
    # streamed: token k is shown when at most k + 2 tokens exist (mlx-lm samples one step ahead), not after all 12
    assert all(count <= k + 2 for k, count in enumerate(seen_at, start=1)), seen_at
    assert seen_at[0] < 12


def test_harmony_printer_shows_channels_as_they_arrive_and_raw_tokens_when_there_is_no_header():
    from mlxclin.commands.generate import HARMONY_HOLD, HarmonyStreamPrinter
    from mlxclin.vocab import harmony_encoding

    class Decoder:
        def decode(self, ids):
            return harmony_encoding().decode(ids)

    encoding, shown = harmony_encoding(), []
    ids = encoding.encode("<|channel|>analysis<|message|>Think hard.<|end|><|start|>assistant<|channel|>final"
                          "<|message|>Answer!", allowed_special="all")
    printer = HarmonyStreamPrinter(Decoder(), lambda text, nl=True: shown.append(text))
    snapshots = []
    for token in ids:
        printer(token)
        snapshots.append("".join(shown))
    assert "".join(shown) == "\n--- analysis (streaming)\nThink hard.\n--- final (streaming)\nAnswer!"
    assert snapshots[ids.index(encoding.encode("<|end|>", allowed_special="all")[0])].endswith("Think hard.")

    shown.clear()
    garbage = encoding.encode(" the quick brown fox" * 10)
    printer = HarmonyStreamPrinter(Decoder(), lambda text, nl=True: shown.append(text))
    for token in garbage:
        printer(token)
    text = "".join(shown)
    assert text.startswith("--- raw tokens (no Harmony header)") and text.endswith(encoding.decode(garbage[-3:]))
    assert len(garbage) > HARMONY_HOLD


def test_generate_command_streams_and_then_reports(run_mlxclin, toy_mlx_dir):
    result = run_mlxclin("generate", "--model", toy_mlx_dir, "-p", "Name one cause of chest pain.",
                         "--max-tokens", 8, "--effort", "low")
    assert result.exit_code == 0, result.stderr
    assert "--- raw tokens" in result.stdout or "(streaming)" in result.stdout   # the random toy writes no header
    assert "--- parsed: reasoning" in result.stdout and "completion 8 tok" in result.stdout
