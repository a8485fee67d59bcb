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
