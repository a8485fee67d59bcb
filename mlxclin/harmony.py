"""The gpt-oss Harmony format through openai-harmony: render requests to token ids, parse completions from ids.

Completions are parsed from token ids, never from decoded text (decoding mangles the special tokens).
Task "system" prompts become Harmony developer instructions: the Harmony system message carries the model
identity, a fixed knowledge cutoff and date (so renders are reproducible) and the reasoning effort.
"""

from dataclasses import dataclass

from mlxclin.vocab import harmony_encoding

KNOWLEDGE_CUTOFF = "2024-06"
CONVERSATION_DATE = "2025-08-05"  # fixed so the same request always renders to the same tokens


@dataclass
class ParsedCompletion:
    reasoning: str
    final: str
    status: str  # complete | truncated | malformed
    reasoning_tokens: int


def _conversation(messages: list, effort: str):
    import openai_harmony as oh

    system = (oh.SystemContent.new().with_reasoning_effort(oh.ReasoningEffort(effort.capitalize()))
              .with_knowledge_cutoff(KNOWLEDGE_CUTOFF).with_conversation_start_date(CONVERSATION_DATE))
    out = [oh.Message.from_role_and_content(oh.Role.SYSTEM, system)]
    instructions = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    if instructions:
        dev = oh.DeveloperContent.new().with_instructions("\n\n".join(instructions))
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, dev))
    for m in messages:
        if m["role"] == "user":
            out.append(oh.Message.from_role_and_content(oh.Role.USER, m["content"]))
        elif m["role"] == "assistant":
            if m.get("thinking"):
                out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, m["thinking"]).with_channel("analysis"))
            out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, m["content"]).with_channel("final"))
    return oh.Conversation.from_messages(out)


def render_prompt(messages: list, effort: str = "medium") -> list:
    """Token ids of the prompt, ending with `<|start|>assistant`, exactly as openai-harmony renders them."""
    import openai_harmony as oh

    return list(harmony_encoding().render_conversation_for_completion(_conversation(messages, effort),
                                                                       oh.Role.ASSISTANT))


def stop_token_ids() -> list:
    """`<|return|>` and `<|call|>`; never `<|end|>`, which only closes the analysis message."""
    return list(harmony_encoding().stop_tokens_for_assistant_actions())


def parse_completion(ids: list, stopped: bool) -> ParsedCompletion:
    """Split completion token ids into reasoning (analysis) and answer (final).

    `stopped` says whether generation ended on a stop token (rather than max tokens). Status:
    complete  -- a final-channel message was produced and generation stopped on `<|return|>`/`<|call|>`;
    truncated -- max tokens ran out first (the final text, if any, is partial);
    malformed -- generation stopped but produced no final-channel message, or the tokens do not parse.
    """
    import openai_harmony as oh

    enc = harmony_encoding()
    ids = list(ids)
    if ids and ids[-1] in stop_token_ids():
        ids, stopped = ids[:-1], True
    try:
        messages = enc.parse_messages_from_completion_tokens(ids, oh.Role.ASSISTANT)
    except Exception:  # HarmonyError and friends: keep the raw text as reasoning so nothing is lost
        return ParsedCompletion(enc.decode(ids), "", "malformed" if stopped else "truncated", len(ids))
    text = lambda m: "".join(getattr(c, "text", "") for c in m.content)  # noqa: E731
    reasoning = "\n".join(text(m) for m in messages if m.channel in ("analysis", "commentary"))
    finals = [m for m in messages if m.channel == "final"]
    final = text(finals[-1]) if finals else ""
    final_ids = _final_token_count(ids)
    if not stopped:
        status = "truncated"
    elif finals:
        status = "complete"
    else:
        status = "malformed"
    return ParsedCompletion(reasoning, final.strip(), status, len(ids) - final_ids)


def _final_token_count(ids: list) -> int:
    """Tokens from the final channel's header on (the rest of the completion counts as reasoning)."""
    enc = harmony_encoding()
    channel, final = enc.encode("<|channel|>", allowed_special="all")[0], enc.encode("final")
    for i in range(len(ids) - 1, -1, -1):
        if ids[i] == channel and ids[i + 1:i + 1 + len(final)] == final:
            return len(ids) - i
    return 0


def parse_completion_text(text: str, stopped: bool = True) -> ParsedCompletion:
    """Parse Harmony markup returned as text (e.g. by a local server) exactly like token ids."""
    return parse_completion(harmony_encoding().encode(text, allowed_special="all"), stopped)


def looks_like_harmony(text: str) -> bool:
    return "<|channel|>" in text or "<|message|>" in text


def render_training_example(messages: list, effort: str = "medium") -> tuple:
    """Token ids of a whole conversation ending in an assistant reply, and a 0/1 mask of the tokens to train on.

    The trained tokens are everything after the prompt `render_prompt` would give for the same conversation
    without its last message: the assistant's analysis message (its "thinking", when present), the final-channel
    answer and the closing `<|return|>`. openai-harmony drops analysis messages from training renders by default
    (as gpt-oss does between turns); `auto_drop_analysis=False` keeps them, so reasoning traces are trained.
    """
    import openai_harmony as oh

    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("a training example must end with an assistant message")
    config = oh.RenderConversationConfig(auto_drop_analysis=False)
    ids = list(harmony_encoding().render_conversation_for_training(_conversation(messages, effort), config))
    prompt = render_prompt(messages[:-1], effort)
    if ids[:len(prompt)] != prompt:  # would mean training on a prompt the model never sees at inference
        raise ValueError("the training render does not start with the inference prompt")
    return ids, [0] * len(prompt) + [1] * (len(ids) - len(prompt))
