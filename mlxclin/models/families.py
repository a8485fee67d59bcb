"""Qwen3.5 and Gemma 4 at inference and training time: prompts, stop tokens, completion parsing, study settings.

The models themselves are mlx-lm's (`qwen3_5`, `qwen3_5_moe`, `gemma4`, `gemma4_text`); this module holds only what
differs per family around them. gpt-oss (Harmony) stays in `mlxclin.harmony`.

Thinking control. Both families have one switch, thinking on or off (Qwen3.5: `enable_thinking` in the chat
template, which opens `<think>` in the prompt; Gemma 4: `<|think|>` at the start of the system turn). mlxclin's
`--effort` maps onto it: low = thinking off; medium and high = thinking on (the families have no graded effort, so
medium and high render the same prompt; the sample records `thinking`). The study ran Qwen3.5 "with high reasoning
effort", i.e. thinking on, and Gemma 4 with its thinking mode; `study_settings` records that with the sampling each
model card recommends.
"""

from dataclasses import dataclass, field
from typing import Optional

from mlxclin.errors import MlxclinError
from mlxclin.text import repair_mojibake


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    model_types: tuple
    reasoning_open: str          # what starts the reasoning block in a completion (or the prompt)
    reasoning_close: str
    end_tokens: tuple            # token strings that end an assistant turn
    sampling: dict               # model card recommendation in thinking mode
    sampling_source: str
    efforts: dict = field(default_factory=lambda: {"low": False, "medium": True, "high": True})


QWEN3_5 = Family(
    "qwen3_5", "Qwen3.5", ("qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text"), "<think>", "</think>",
    ("<|im_end|>", "<|endoftext|>"),
    {"temperature": 1.0, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "presence_penalty": 1.5},
    "Qwen3.5 model cards, thinking mode for general tasks")
GEMMA4 = Family(
    "gemma4", "Gemma 4", ("gemma4", "gemma4_text"), "<|channel>thought\n", "<channel|>", ("<turn|>", "<eos>"),
    {"temperature": 1.0, "top_p": 0.95, "top_k": 64}, "Gemma 4 model cards")
FAMILIES = (QWEN3_5, GEMMA4)
EFFORT_HELP = "low = thinking off, medium/high = thinking on"


def family_of(config: dict) -> Optional[Family]:
    """The family of a loaded model's config (None for gpt-oss and anything else)."""
    model_type = config.get("model_type")
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def thinking_for(family: Family, effort: str) -> bool:
    if effort not in family.efforts:
        raise MlxclinError(f"--effort {effort}: {family.label} has no such thinking setting ({EFFORT_HELP})")
    return family.efforts[effort]


def chat_messages(messages: list) -> list:
    """mlxclin messages -> chat-template messages: developer instructions become the system turn (these families
    have no developer role), an assistant's "thinking" becomes `reasoning_content`."""
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    out = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    for m in messages:
        if m["role"] == "user":
            out.append({"role": "user", "content": m["content"]})
        elif m["role"] == "assistant":
            entry = {"role": "assistant", "content": m["content"]}
            if m.get("thinking"):
                entry["reasoning_content"] = m["thinking"]
            out.append(entry)
    return out


def render_prompt(tokenizer, family: Family, messages: list, effort: str) -> list:
    """Prompt token ids through the checkpoint's own chat template, ending where the assistant starts."""
    ids = tokenizer.apply_chat_template(chat_messages(messages), add_generation_prompt=True, tokenize=True,
                                        enable_thinking=thinking_for(family, effort))
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def stop_token_ids(tokenizer, family: Family) -> list:
    """The family's end-of-turn tokens present in the vocabulary, plus the tokenizer's own EOS ids."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in family.end_tokens if t in vocab}
    return sorted(ids | set(getattr(tokenizer, "eos_token_ids", None) or []))


@dataclass
class ParsedCompletion:
    reasoning: str
    final: str
    status: str                   # complete | truncated | malformed
    notes: dict                   # what was found or repaired: unclosed / missing channel, mojibake repairs


def _strip_end(text: str, family: Family) -> str:
    for token in family.end_tokens:
        text = text.replace(token, "")
    return text


def _repair(text: str, notes: dict, key: str) -> str:
    fixed = repair_mojibake(text)
    if fixed != text:
        notes[key] = notes.get(key, 0) + 1
    return fixed


def parse_completion(family: Family, text: str, stopped: bool, thinking: bool) -> ParsedCompletion:
    """Split a decoded completion (special tokens kept) into reasoning and answer.

    Qwen3.5 with thinking on: the prompt already opened `<think>`, so the completion is "reasoning</think>answer";
    a completion without `</think>` is all reasoning (unclosed: no answer). Gemma 4: "<|channel>thought\\n...
    <channel|>answer"; a completion with no thought channel is all answer (noted as `thought_channel: missing`
    when thinking was on), an unclosed channel is all reasoning. Mojibake (UTF-8 read as cp1252, seen in the
    paper's Qwen outputs) is repaired in both parts and counted.
    """
    notes: dict = {}
    text = _strip_end(text, family)
    open_, close = family.reasoning_open, family.reasoning_close
    if close in text:
        reasoning, _, final = text.partition(close)
        reasoning = reasoning.split(open_, 1)[-1]
    elif open_ in text or (thinking and family is QWEN3_5):
        before, _, reasoning = text.partition(open_) if open_ in text else ("", "", text)
        final = before if before.strip() else ""
        notes["reasoning_unclosed"] = True
    else:
        reasoning, final = "", text
        if thinking and family is GEMMA4:
            notes["thought_channel"] = "missing"
    reasoning = _repair(reasoning.strip(), notes, "mojibake_repaired")
    final = _repair(final.strip(), notes, "mojibake_repaired")
    if not stopped:
        status = "truncated"
    else:
        status = "complete" if final else "malformed"
    return ParsedCompletion(reasoning, final, status, notes)


def parse_completion_tokens(tokenizer, family: Family, tokens: list, stopped: bool, effort: str) -> tuple:
    """(reasoning, final, status, reasoning tokens, notes) from completion token ids, for the MLX backend."""
    thinking = thinking_for(family, effort)
    parsed = parse_completion(family, tokenizer.decode(tokens), stopped, thinking)
    reasoning_tokens = len(tokenizer.encode(parsed.reasoning, add_special_tokens=False)) if parsed.reasoning else 0
    return parsed.reasoning, parsed.final, parsed.status, reasoning_tokens, {**parsed.notes, "thinking": thinking}


def training_target(family: Family, answer: str, reasoning: str, thinking: bool) -> str:
    """The assistant text after the prompt that `render_prompt` gives, ending with the end-of-turn token.

    Qwen3.5 (thinking on; the prompt ends with "<think>\\n"): "REASONING\\n</think>\\n\\nANSWER<|im_end|>", with an
    empty reasoning block when there is no trace. Gemma 4: "<|channel>thought\\nREASONING<channel|>ANSWER<turn|>"
    when thinking is on and a trace exists, else "ANSWER<turn|>".
    """
    if family is QWEN3_5:
        head = f"{reasoning.strip()}\n</think>\n\n" if thinking else ""
        return head + answer + "<|im_end|>"
    head = f"{GEMMA4.reasoning_open}{reasoning.strip()}{GEMMA4.reasoning_close}" if thinking and reasoning else ""
    return head + answer + "<turn|>"


def render_training_example(tokenizer, family: Family, messages: list, effort: str) -> tuple:
    """(ids, mask): the inference prompt (mask 0) followed by the assistant target (mask 1). The target is
    tokenized on its own, as the model produces it after the prompt at inference time."""
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("a training example must end with an assistant message")
    last = messages[-1]
    prompt = render_prompt(tokenizer, family, messages[:-1], effort)
    target = training_target(family, last["content"], last.get("thinking") or "", thinking_for(family, effort))
    target_ids = list(tokenizer.encode(target, add_special_tokens=False))
    return prompt + target_ids, [0] * len(prompt) + [1] * len(target_ids)


def training_renderer(model_dir):
    """render(messages, effort) -> (ids, mask) for the family of the model in model_dir (for finetune prepare)."""
    from mlx_lm.utils import load_tokenizer

    from mlxclin.models.checkpoint import read_config
    from pathlib import Path

    family = family_of(read_config(Path(model_dir)))
    tokenizer = load_tokenizer(Path(model_dir))
    return lambda messages, effort: render_training_example(tokenizer, family, messages, effort)


def output_head(model):
    """hidden states -> logits for mlx-lm's Qwen3.5 / Gemma 4 models, whose text model sits under
    `language_model` with its own head: untied `lm_head` (Qwen3.5) or tied embeddings plus the final logit
    soft-capping (Gemma 4). None for models without a `language_model` (gpt-oss)."""
    import mlx.core as mx

    text = getattr(model, "language_model", None)
    if text is None:
        return None
    head = text.lm_head if hasattr(text, "lm_head") else text.model.embed_tokens.as_linear
    cap = getattr(text, "final_logit_softcapping", None)
    if not cap:
        return head
    return lambda hidden: mx.tanh(head(hidden) / cap) * cap


def run_settings(model_dir, efforts: list) -> Optional[dict]:
    """{effort: study settings} for config.json when model_dir holds a Qwen3.5 / Gemma 4 model, else None.
    Reads only config.json, so an effort the family cannot honour is refused before the model loads."""
    from pathlib import Path

    from mlxclin.models.checkpoint import read_config

    family = family_of(read_config(Path(model_dir)))
    return {e: study_settings(family, e) for e in efforts} if family else None


def study_settings(family: Family, effort: str) -> dict:
    """What config.json records for a run of this family: thinking, recommended sampling and its source."""
    return {"family": family.name, "family_label": family.label, "thinking": thinking_for(family, effort),
            "effort_mapping": EFFORT_HELP, "recommended_sampling": family.sampling,
            "sampling_source": family.sampling_source}


def settings_label(settings) -> str:
    """"Qwen3.5 · thinking on" from one effort's config.json `model_family` entry; "" for gpt-oss (null) or a run
    written before families were recorded."""
    if not isinstance(settings, dict) or not settings.get("family_label"):
        return ""
    thinking = settings.get("thinking")
    return settings["family_label"] + ("" if thinking is None else f" · thinking {'on' if thinking else 'off'}")
