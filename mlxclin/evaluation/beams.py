"""Beam-search decoding inside an evaluation: settings from the spec, and one sample from one beam search.

Every beam is parsed by the task like a sampled answer; the vote (--vote) picks the beam whose parse becomes the
sample's answer (and is scored). The sample keeps all beams under `beams` (answer, score, tokens, ...) and how
the vote went under `vote`, so a report can recount it from samples.jsonl alone.
"""

from dataclasses import replace

from mlxclin.decoding.beam_search import BeamSettings
from mlxclin.decoding.votes import vote
from mlxclin.errors import MlxclinError


def beam_settings(spec) -> BeamSettings:
    if spec.backend != "mlx":
        raise MlxclinError(f"--decoding beam needs --backend mlx (got {spec.backend})")
    return BeamSettings(spec.beams, spec.beam_groups or spec.beams, spec.diversity_penalty, spec.length_penalty,
                        spec.early_stopping, spec.max_tokens)


def beam_config(spec) -> dict:
    """The decoding block of config.json (part of the run's identity)."""
    settings = beam_settings(spec)
    return {"method": "beam", "beams": settings.num_beams, "beam_groups": settings.num_beam_groups,
            "diversity_penalty": settings.diversity_penalty, "length_penalty": settings.length_penalty,
            "early_stopping": settings.early_stopping, "vote": spec.vote}


def parse_beams(task, item, completion) -> tuple:
    """(the voted beam's parse, sample fields) for a completion carrying `extra["beams"]`."""
    beams = completion.extra.pop("beams")
    rule = completion.extra.get("decoding", {}).get("vote", "majority")
    parsed = [task.parse(item, replace(completion, text=b["text"], reasoning=b["reasoning"], final=b["final"],
                                       status=b["status"], extra={})) for b in beams]
    result = vote(rule, [p.get("prediction") for p in parsed], [b["mean_logprob"] for b in beams])
    winner = beams[result.beam]
    records = [{"answer": p.get("prediction"), "score": b["score"], "mean_logprob": b["mean_logprob"],
                "stopped": b["stopped"], "status": b["status"], "tokens": b["tokens"]}
               for p, b in zip(parsed, beams)]
    fields = {"raw": winner["text"], "final": winner["final"], "reasoning": winner["reasoning"],
              "completion_status": winner["status"], "beams": records,
              "vote": {"rule": rule, "decided_by": result.rule, "beam": result.beam, "count": result.count,
                       "total": result.total}}
    return parsed[result.beam], fields
