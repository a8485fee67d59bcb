"""The mlx backend: Harmony prompt ids, completion parsing from ids, timings, batched == sequential greedy."""

import pytest

from mlxclin.backends.base import Request
from mlxclin.harmony import parse_completion
from mlxclin.vocab import harmony_encoding

MESSAGES = [{"role": "system", "content": "Select one option."},
            {"role": "user", "content": "Case: fever and cough.\nOptions:\nPneumonia\nAsthma"},
            {"role": "assistant", "content": "Pneumonia", "thinking": "Fever points to infection."},
            {"role": "user", "content": "And with wheeze only?"}]


@pytest.fixture(scope="module")
def backend(toy_mlx_dir):
    from mlxclin.backends.mlx import MLXBackend

    b = MLXBackend(toy_mlx_dir)
    yield b
    b.close()


def _reference_ids(effort: str) -> list:
    """openai-harmony's own rendering, built here independently of mlxclin.harmony."""
    import openai_harmony as oh

    from mlxclin.harmony import CONVERSATION_DATE, KNOWLEDGE_CUTOFF

    system = (oh.SystemContent.new().with_reasoning_effort(
        {"low": oh.ReasoningEffort.LOW, "medium": oh.ReasoningEffort.MEDIUM, "high": oh.ReasoningEffort.HIGH}[effort])
        .with_knowledge_cutoff(KNOWLEDGE_CUTOFF).with_conversation_start_date(CONVERSATION_DATE))
    msgs = [oh.Message.from_role_and_content(oh.Role.SYSTEM, system),
            oh.Message.from_role_and_content(oh.Role.DEVELOPER,
                                             oh.DeveloperContent.new().with_instructions("Select one option.")),
            oh.Message.from_role_and_content(oh.Role.USER, MESSAGES[1]["content"]),
            oh.Message.from_role_and_content(oh.Role.ASSISTANT, "Fever points to infection.").with_channel("analysis"),
            oh.Message.from_role_and_content(oh.Role.ASSISTANT, "Pneumonia").with_channel("final"),
            oh.Message.from_role_and_content(oh.Role.USER, MESSAGES[3]["content"])]
    return list(harmony_encoding().render_conversation_for_completion(oh.Conversation.from_messages(msgs),
                                                                      oh.Role.ASSISTANT))


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_prompt_ids_equal_openai_harmony(backend, effort):
    ids = backend.prompt_ids(Request(id="x", messages=MESSAGES, effort=effort))
    assert ids == _reference_ids(effort)
    assert harmony_encoding().decode(ids).endswith("<|start|>assistant")
    assert f"Reasoning: {effort}" in harmony_encoding().decode(ids)


def _ids(text):
    return harmony_encoding().encode(text, allowed_special="all")


@pytest.mark.parametrize("text, stopped, reasoning, final, status", [
    ("<|channel|>analysis<|message|>Wheeze suggests asthma.<|end|><|start|>assistant<|channel|>final<|message|>"
     "Asthma<|return|>", True, "Wheeze suggests asthma.", "Asthma", "complete"),
    ("<|channel|>analysis<|message|>Wheeze suggests", False, "Wheeze suggests", "", "truncated"),
    ("<|channel|>analysis<|message|>Only thinking.<|end|>", True, "Only thinking.", "", "malformed"),
    ("<|channel|>final<|message|>Asthma<|call|>", True, "", "Asthma", "complete"),
    ("Asthma<|message|><|channel|>", True, "", "", "malformed"),
])
def test_parse_known_completions(text, stopped, reasoning, final, status):
    parsed = parse_completion(_ids(text), stopped)
    assert (parsed.reasoning, parsed.final, parsed.status) == (reasoning, final, status)


def test_end_token_does_not_stop(backend):
    end = harmony_encoding().encode("<|end|>", allowed_special="all")[0]
    assert end not in backend.stop_ids and 200002 in backend.stop_ids and 200012 in backend.stop_ids


def _requests(n, max_tokens=10):
    return [Request(id=str(i), messages=[{"role": "system", "content": "Pick one."},
                                         {"role": "user", "content": f"Case {i}: cough for {i + 2} days."}],
                    effort="low", max_tokens=max_tokens, temperature=0.0, seed=0) for i in range(n)]


def _assert_measured(c):
    assert c.prompt_tokens > 50 and c.completion_tokens > 0
    for field in ("ttft_s", "prefill_tps", "decode_tps", "latency_s", "peak_memory_gb", "rss_gb"):
        value = getattr(c, field)
        assert value is not None and value > 0, field
    assert c.latency_s >= c.ttft_s


def test_batched_greedy_equals_sequential_and_both_are_measured(backend):
    requests = _requests(4)
    backend.batch_size = 1
    sequential = backend.generate(requests)
    backend.batch_size = 4
    batched = backend.generate(requests)
    backend.batch_size = 1
    for s, b in zip(sequential, batched):
        _assert_measured(s)
        _assert_measured(b)
        assert s.text == b.text and s.completion_tokens == b.completion_tokens
        assert s.format == b.format == "harmony"
    # the shared Harmony/system prefix is prefilled once and reused
    assert all(c.cached_prompt_tokens > 16 for c in sequential)


def test_prefix_cache_does_not_change_greedy_output(toy_mlx_dir, backend):
    from mlxclin.backends.mlx import MLXBackend

    plain = MLXBackend(toy_mlx_dir, prefix_cache=False)
    requests = _requests(3)
    assert [c.text for c in plain.generate(requests)] == [c.text for c in backend.generate(requests)]
