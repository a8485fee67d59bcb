"""Sampling: one request's sampler (a logits processor with its own random stream) and each model's defaults.

Order of operations at every decode step, for one request (transformers' default processor order, with the
penalty first as in vLLM and transformers, where penalties are logits processors that run before the warpers):

  1. presence penalty: subtract `presence_penalty` once from the logit of every token id this request has generated
     so far (not its prompt; vLLM's output-only presence penalty, which is what the Qwen3.5 card's 1.5 refers to)
  2. temperature: logits / T (T = 0: greedy, the argmax of the penalised logits; the filters below cannot change it)
  3. top_k: keep the k most probable tokens (0 = off)
  4. top_p: keep the smallest most-probable set whose mass reaches p, renormalised after top_k (1 = off)
  5. min_p: drop tokens whose probability is below min_p x the most probable one's, after the temperature (0 = off)
  6. draw: argmax(filtered log-probabilities + Gumbel noise), an exact draw from their renormalised softmax

Temperature comes before top_p and min_p (as in transformers and vLLM), unlike mlx-lm's `make_sampler`, which
filters the untempered distribution and divides by T only when it draws; at T = 1 the two agree. top_k before
top_p as transformers and vLLM do; min_p last as in transformers (vLLM applies it before top_k/top_p: the two
differ only when top_p and min_p are both set). The filters are mlx-lm's `apply_top_k`, `apply_top_p`,
`apply_min_p` and its `make_presence_penalty`; the tests compare them with transformers' warpers on fixed logits.

Each request draws its noise from a key made of its own seed, split once per step, so its tokens depend on its
prompt, settings and seed only: never on the batch it shares, nor on where a resumed run split the work.
"""

from pathlib import Path

SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "presence_penalty")
# gpt-oss's recommended sampling (temperature 1, top-p 1), with every filter and penalty off
GPT_OSS_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "presence_penalty": 0.0}
GPT_OSS_SOURCE = "gpt-oss's recommended sampling (mlxclin's default)"


class RequestSampler:
    """mlx-lm calls it as a logits processor with (tokens so far, logits of shape [1, vocab]); it returns values
    whose argmax (mlx-lm's greedy sampler, shared by the whole batch) is this request's next token.

    mlx-lm hands a processor the sequence's tokens: the prompt tokens it prefilled for this sequence (not a shared
    prefix cache) and then each generated token. The sampler counts its own calls, one per decode step, so the
    tokens generated so far are the last `steps` of them whatever the prompt part holds."""

    def __init__(self, seed: int, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0,
                 presence_penalty: float = 0.0, max_tokens: int = 1 << 30):
        import mlx.core as mx
        from mlx_lm.sample_utils import make_presence_penalty

        self.key = mx.random.key(int(seed) % (1 << 63))
        self.temperature, self.top_p, self.top_k, self.min_p = temperature, top_p, top_k, min_p
        self.penalty = make_presence_penalty(presence_penalty, max_tokens) if presence_penalty else None
        self.steps = 0

    def __call__(self, tokens, logits):
        import mlx.core as mx

        logits = self.penalised(tokens, logits.astype(mx.float32))
        if self.temperature == 0:
            return logits
        logprobs = self.filtered(logits)
        self.key, step_key = mx.random.split(self.key)
        return logprobs + mx.random.gumbel(shape=logprobs.shape, key=step_key)

    def penalised(self, tokens, logits):
        """Step 1: the presence penalty over the tokens this request generated (the last `steps` of `tokens`)."""
        generated, self.steps = self.steps, self.steps + 1
        if self.penalty is None or generated == 0:
            return logits
        return self.penalty(tokens[-generated:], logits)

    def filtered(self, logits):
        """Steps 2-5: log-probabilities at the temperature, with the tokens top_k, top_p and min_p drop at -inf."""
        import mlx.core as mx
        from mlx_lm.sample_utils import apply_min_p, apply_top_k, apply_top_p

        scaled = logits / self.temperature
        logprobs = scaled - mx.logsumexp(scaled, axis=-1, keepdims=True)
        if 0 < self.top_k < logprobs.shape[-1]:
            logprobs = apply_top_k(logprobs, self.top_k)
        if 0 < self.top_p < 1.0:
            logprobs = apply_top_p(logprobs, self.top_p)
        if self.min_p > 0:
            logprobs = apply_min_p(logprobs, self.min_p)
        return logprobs


def needs_sampler(request) -> bool:
    """Greedy without a penalty is mlx-lm's plain argmax: no processor, no per-step work."""
    return request.temperature > 0 or request.presence_penalty != 0


def request_sampler(request, seed: int) -> RequestSampler:
    return RequestSampler(seed, request.temperature, request.top_p, request.top_k, request.min_p,
                          request.presence_penalty, request.max_tokens)


def sampling_line(values: dict, sources: dict) -> str:
    """"sampling: temperature 1, top_p 0.95, ... · generation_config.json: temperature, top_p; ..." for a log."""
    by_source = {}
    for name, source in sources.items():
        by_source.setdefault(source, []).append(name)
    settings = ", ".join(f"{name} {values[name]:g}" for name in SAMPLING_FIELDS)
    return f"sampling: {settings} · " + "; ".join(f"{src}: {', '.join(names)}" for src, names in by_source.items())


def model_defaults(model_dir) -> dict:
    """name -> (value, source) for a model's default sampling, before any flag or --config value.

    Qwen3.5 and Gemma 4 (the study followed their model cards): the checkpoint's generation_config.json for every
    value it holds, the model card for the rest (generation_config.json has no presence penalty). gpt-oss, any
    other model, and no model folder at all (an API): gpt-oss's recommended temperature 1, top-p 1, filters off.
    Values are returned as found; the caller validates them (mlxclin.evaluation.spec.sampling_settings)."""
    from mlxclin.models.checkpoint import read_config
    from mlxclin.models.families import family_of

    family = family_of(read_config(Path(model_dir))) if model_dir is not None else None
    if family is None:
        return {name: (value, GPT_OSS_SOURCE) for name, value in GPT_OSS_SAMPLING.items()}
    card = {**GPT_OSS_SAMPLING, **family.sampling}
    generation = _generation_config(Path(model_dir))
    return {name: ((generation[name], "generation_config.json") if name in generation
                   else (card[name], family.sampling_source if name in family.sampling else
                         f"off: the {family.label} model card does not set it"))
            for name in SAMPLING_FIELDS}


def _generation_config(model_dir: Path) -> dict:
    import json

    from mlxclin.errors import MlxclinError

    path = model_dir / "generation_config.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MlxclinError(f"{path} is not readable JSON ({' '.join(str(e).split())})") from None
    return {k: doc[k] for k in SAMPLING_FIELDS if isinstance(doc, dict) and doc.get(k) is not None}
