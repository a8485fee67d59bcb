"""transformers' group beam search as a reference, run by the interpreter of the reference venv (transformers 4.56.x,
the last release with `_group_beam_search` in-tree; the main venv's newer transformers no longer has it).

Usage: python tests/beam_reference.py < requests.json > results.json
requests: {"model": HF dir, "runs": [run, ...]}, each run {"prompt": [ids], "num_beams", "num_beam_groups",
          "diversity_penalty", "length_penalty", "early_stopping", "max_new_tokens", "eos": [ids], "pad": id,
          "force_group": bool}
results:  {"version": ..., "runs": [{"method": ..., "beams": [{"tokens": [generated ids], "score": float}]}]},
          beams best first, each padded as generate() returns it
`force_group` routes num_beam_groups == 1 through `_group_beam_search` too (generate() would pick `_beam_search`).
A beam that ended on EOS ends with eos[0] (transformers writes the first EOS id whichever one was generated),
then pad ids up to the longest row.
"""

import json
import sys

import torch
import transformers
from transformers import GenerationConfig, GptOssForCausalLM, Mxfp4Config
from transformers.generation.configuration_utils import GenerationMode


def run_one(model, req: dict) -> dict:
    config = GenerationConfig(
        do_sample=False, num_beams=req["num_beams"], num_beam_groups=req["num_beam_groups"],
        diversity_penalty=req["diversity_penalty"], length_penalty=req["length_penalty"],
        early_stopping=req["early_stopping"], max_new_tokens=req["max_new_tokens"],
        num_return_sequences=req["num_beams"], eos_token_id=req["eos"], pad_token_id=req["pad"],
        return_dict_in_generate=True, output_scores=True)  # output_scores: else no sequences_scores
    method = "_beam_search"
    if req["num_beam_groups"] > 1 or req.get("force_group"):
        method = "_group_beam_search"
    mode = GenerationConfig.get_generation_mode
    if method == "_group_beam_search":
        GenerationConfig.get_generation_mode = lambda self, assistant_model=None: GenerationMode.GROUP_BEAM_SEARCH
    ids = torch.tensor([req["prompt"]])
    try:
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    finally:
        GenerationConfig.get_generation_mode = mode
    prompt_len = ids.shape[1]
    # rows are padded: a stopped beam is followed by eos[0] then pad ids (beam_indices cannot give lengths:
    # `_group_beam_search` tracks them with group-local indices into all groups' tracks)
    beams = [{"tokens": seq[prompt_len:].tolist(), "score": float(score)}
             for seq, score in zip(out.sequences, out.sequences_scores)]
    return {"method": method, "beams": beams}


def main() -> None:
    requests = json.load(sys.stdin)
    model = GptOssForCausalLM.from_pretrained(requests["model"], dtype=torch.float32,
                                              quantization_config=Mxfp4Config(dequantize=True))
    model = model.float().eval()  # 4.56 leaves the dequantized experts in bfloat16
    model.generation_config.do_sample = False  # the checkpoint's default (True) would override ours
    runs = [run_one(model, req) for req in requests["runs"]]
    json.dump({"version": transformers.__version__, "runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
