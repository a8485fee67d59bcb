"""Small offline tokenizers for the toy Qwen3.5 and Gemma 4 checkpoints.

A byte-level BPE (so any text, including mojibake and accents, round-trips) trained on a built-in clinical corpus,
plus each family's real special tokens with the real strings: Qwen3.5's ChatML/`<think>` tokens appended after the
ordinary vocabulary (as in the released tokenizer), Gemma 4's `<pad>`/`<eos>`/`<bos>` at ids 0-2 and its turn,
channel and thinking tokens right after them. The chat templates in `templates/` follow each family's documented
format. Token ids differ from the released vocabularies (262k / 248k rows would make every toy 30 MB larger).
"""

import json
import shutil
from pathlib import Path

TEMPLATES = Path(__file__).with_name("templates")
BPE_VOCAB = 640

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen marks these as added but not "special": they survive decode(skip_special_tokens=True)
QWEN_ADDED = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|turn>", "<turn|>", "<|channel>", "<channel|>",
                  "<|think|>", "<|tool_call>", "<tool_call|>", "<|tool>", "<tool|>", "<|tool_response>",
                  "<tool_response|>", '<|"|>', "<|image>", "<image|>", "<|audio>", "<audio|>"]

_CORPUS = """Clinical history: a 46-year-old man presented with acute chest pain, fever, cough and dyspnoea.
Imaging findings: CT shows a mass in the right upper lobe with mediastinal lymph nodes; MRI of the brain is normal.
Differential diagnosis list: lung cancer, pneumonia, lymphoma, tuberculosis, sarcoidosis, metastasis, abscess.
Select the single most likely diagnosis from the list. Final answer: the diagnosis is Nail-patella syndrome.
The patient reports blurred vision, eye pain and headache; the retina shows haemorrhages and macular oedema.
Answer with the letters of every correct option (A, B, C, D, E). Score the answer from 1 to 5 against the reference.
Let me think step by step about the findings, the age of the patient and the candidates before answering.
Osteochondroma, meningioma, glioma, appendicitis, diverticulitis, pseudoaneurysm, haematoma, Sturge-Weber syndrome.
Alpha syndrome, Beta syndrome, Gamma syndrome; marker: red blue green. Options: Case: Diagnosis: Reasoning:
"""


def _train_bpe(specials_first: list, specials_last: list):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB + len(specials_first), show_progress=False,
                                  special_tokens=specials_first, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS.splitlines() * 4, trainer=trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in specials_last])
    return tok


def _added_decoder(tok, special: set) -> dict:
    return {str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": t in special}
            for t in sorted(special | set(QWEN_ADDED if "<think>" in tok.get_vocab() else []),
                            key=tok.token_to_id)}


def write_qwen_tokenizer(out: Path) -> dict:
    """Writes the tokenizer files; returns {"vocab_size", "eos_token_id", "pad_token_id"} for the config."""
    from tokenizers import AddedToken

    tok = _train_bpe([], [])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in QWEN_SPECIALS])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in QWEN_ADDED])
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "unk_token": None, "add_bos_token": False, "add_prefix_space": False,
              "model_max_length": 262144, "clean_up_tokenization_spaces": False, "errors": "replace",
              "split_special_tokens": False, "added_tokens_decoder": _added_decoder(tok, set(QWEN_SPECIALS))}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(TEMPLATES / "qwen3_5.jinja", out / "chat_template.jinja")
    ids = {t: tok.token_to_id(t) for t in ("<|im_end|>", "<|endoftext|>")}
    return {"vocab_size": tok.get_vocab_size(), "eos_token_id": ids["<|im_end|>"],
            "generation_eos": [ids["<|im_end|>"], ids["<|endoftext|>"]], "pad_token_id": ids["<|endoftext|>"]}


def write_gemma_tokenizer(out: Path) -> dict:
    from tokenizers import processors

    tok = _train_bpe(GEMMA_SPECIALS, [])
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", bos)])
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
              "pad_token": "<pad>",
              "unk_token": "<unk>", "mask_token": "<mask>", "add_bos_token": True, "add_eos_token": False,
              "model_max_length": 1000000000000000019884624838656, "clean_up_tokenization_spaces": False,
              "added_tokens_decoder": _added_decoder(tok, set(GEMMA_SPECIALS))}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(TEMPLATES / "gemma4.jinja", out / "chat_template.jinja")
    ids = {t: tok.token_to_id(t) for t in ("<eos>", "<turn|>", "<pad>", "<bos>")}
    return {"vocab_size": tok.get_vocab_size(), "eos_token_id": ids["<eos>"], "bos_token_id": ids["<bos>"],
            "generation_eos": [ids["<eos>"], ids["<turn|>"]], "pad_token_id": ids["<pad>"]}
