"""Diverse beam search: token-identical to transformers' `_group_beam_search` (4.56.x, run from the reference venv
that .ci/run creates at .venv-ref) on the toy gpt-oss in float32, with a prompt longer than the sliding window and
an EOS that some beams reach before others."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlxclin.decoding.beam_search import BeamSettings, beam_search
from mlxclin.errors import MlxclinError

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_PYTHON = Path(os.environ.get("MLXCLIN_BEAM_REFERENCE_PYTHON", ROOT / ".venv-ref" / "bin" / "python"))
CONFIGS = {  # name -> (beams, groups, diversity penalty)
    "13 beams, 13 groups, 0.5": (13, 13, 0.5),
    "6 beams, 3 groups, 0.7": (6, 3, 0.7),
    "4 beams, 1 group": (4, 1, 0.0),
}
MAX_NEW_TOKENS = 12
PAD = 199999


@pytest.fixture(scope="module")
def f32_model(toy_hf_dir, tmp_path_factory):
    from mlxclin.models.convert import convert
    from mlxclin.models.gpt_oss import load

    path = convert(str(toy_hf_dir), tmp_path_factory.mktemp("beam") / "f32", recipe="f32").path
    model, _, config = load(path)
    return model, config


@pytest.fixture(scope="module")
def long_prompt(f32_model):
    from mlxclin.harmony import render_prompt
    from mlxclin.models.verify import PROMPTS

    ids = render_prompt(PROMPTS["case"], effort="medium")
    assert len(ids) > f32_model[1]["sliding_window"] * 4
    return ids


def harmony_stops() -> tuple:
    from mlxclin.harmony import stop_token_ids

    return tuple(stop_token_ids())


def staggered(result) -> bool:
    """Some beam ended on EOS while another kept going past that point."""
    stopped = [len(h.tokens) for h in result.beams if h.stopped]
    return bool(stopped) and any(len(h.tokens) > min(stopped) for h in result.beams)


def staggered_eos(model, prompt, settings):
    """An EOS set (one token the toy model likes + Harmony's stop tokens) that ends some beams before others.

    A random toy model never emits <|return|>, so one of its own mid-sequence choices is made an EOS as well."""
    base = beam_search(model, prompt, settings, harmony_stops(), PAD)
    for hyp in base.beams:
        for pos in (MAX_NEW_TOKENS // 2, MAX_NEW_TOKENS // 3, 2 * MAX_NEW_TOKENS // 3):
            eos = (hyp.tokens[pos],) + harmony_stops()
            result = beam_search(model, prompt, settings, eos, PAD)
            if staggered(result):
                return eos, result
    pytest.fail("no EOS choice ends some beams before others")


def reference_python() -> Path:
    if not REFERENCE_PYTHON.is_file():
        pytest.skip(f"transformers 4.56 reference venv not found at {REFERENCE_PYTHON} (.ci/run creates it)")
    version = subprocess.run([str(REFERENCE_PYTHON), "-c", "import transformers; print(transformers.__version__)"],
                             capture_output=True, text=True)
    if version.returncode or not version.stdout.startswith("4.56."):
        pytest.skip(f"reference venv has no transformers 4.56.x: {version.stdout or version.stderr[-200:]}")
    return REFERENCE_PYTHON


@pytest.fixture(scope="module")
def compared(f32_model, long_prompt, toy_hf_dir):
    """(ours, theirs) per config: our results with the EOS used, transformers' results for the same request."""
    python = reference_python()
    ours, runs = {}, []
    for name, (beams, groups, penalty) in CONFIGS.items():
        settings = BeamSettings(beams, groups, penalty, 1.0, True, MAX_NEW_TOKENS)
        eos, result = staggered_eos(f32_model[0], long_prompt, settings)
        ours[name] = (eos, result)
        runs.append({"prompt": long_prompt, "num_beams": beams, "num_beam_groups": groups,
                     "diversity_penalty": penalty, "length_penalty": 1.0, "early_stopping": True,
                     "max_new_tokens": MAX_NEW_TOKENS, "eos": list(eos), "pad": PAD, "force_group": True})
    # ordinary beam search once more the way generate() dispatches it (vectorised `_beam_search`)
    runs.append(dict(runs[-1], force_group=False))
    proc = subprocess.run([str(python), str(ROOT / "tests" / "beam_reference.py")], capture_output=True, text=True,
                          input=json.dumps({"model": str(toy_hf_dir), "runs": runs}), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout)["runs"]
    out = {name: (ours[name], theirs[i]) for i, name in enumerate(CONFIGS)}
    out["4 beams, 1 group, generate()"] = (ours["4 beams, 1 group"], theirs[-1])
    return out


def assert_same_beams(ours, theirs):
    eos, result = ours
    assert staggered(result)
    assert len(result.beams) == len(theirs["beams"])
    for rank, (mine, ref) in enumerate(zip(result.beams, theirs["beams"])):
        # transformers ends a stopped beam with its first EOS id (whichever EOS was generated), then pads
        expected = mine.tokens[:-1] + [eos[0]] if mine.stopped else mine.tokens
        assert len(ref["tokens"]) >= len(expected)
        assert ref["tokens"] == expected + [PAD] * (len(ref["tokens"]) - len(expected)), f"beam {rank}"
        assert abs(mine.score - ref["score"]) < 1e-4, f"beam {rank}: {mine.score} vs {ref['score']}"


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", list(CONFIGS))
def test_token_identical_to_transformers_group_beam_search(compared, name):
    ours, theirs = compared[name]
    assert theirs["method"] == "_group_beam_search"
    assert_same_beams(ours, theirs)


@pytest.mark.slow
@pytest.mark.torch
def test_ordinary_beam_search_matches_generate_dispatch(compared):
    ours, theirs = compared["4 beams, 1 group, generate()"]
    assert theirs["method"] == "_beam_search"
    assert_same_beams(ours, theirs)


def test_group_of_one_beam_search_never_reorders(f32_model, long_prompt, monkeypatch):
    """13 groups of one: beams never change parent, so the cache is only broadcast once (after the prefill)."""
    import mlxclin.decoding.beam_search as bs

    calls = []
    real = bs.select_rows
    monkeypatch.setattr(bs, "select_rows", lambda cache, rows: (calls.append(list(rows)), real(cache, rows)))
    result = beam_search(f32_model[0], long_prompt, BeamSettings(13, 13, 0.5, 1.0, True, 4), harmony_stops(), PAD)
    assert calls == [[0] * 13]
    assert len(result.beams) == 13 and len({tuple(h.tokens) for h in result.beams}) == 13
    assert result.generated_tokens == 13 * 4 and result.steps == 4


def test_cache_holds_one_window_per_beam_on_sliding_layers(f32_model, long_prompt):
    from mlx_lm.models.cache import KVCache, RotatingKVCache, make_prompt_cache

    model, config = f32_model
    cache = make_prompt_cache(model)
    beam_search(model, long_prompt, BeamSettings(6, 3, 0.7, 1.0, True, 3), harmony_stops(), PAD, cache=cache)
    sliding = [c for c in cache if isinstance(c, RotatingKVCache)]
    full = [c for c in cache if type(c) is KVCache]
    assert sliding and full
    assert all(c.keys.shape[:3] == (6, config["num_key_value_heads"], config["sliding_window"]) for c in sliding)
    assert all(c.keys.shape[0] == 6 and c.offset == len(long_prompt) + 2 for c in full)


@pytest.mark.parametrize("kwargs, flag", [
    ({"num_beams": 6, "num_beam_groups": 4}, "--beam-groups"),
    ({"num_beams": 0, "num_beam_groups": 1}, "--beams"),
    ({"diversity_penalty": -1.0}, "--diversity-penalty"),
    ({"max_tokens": 0}, "--max-tokens"),
    ({"early_stopping": "sometimes"}, "early_stopping"),
])
def test_settings_reject_bad_values_naming_the_flag(kwargs, flag):
    with pytest.raises(MlxclinError, match=flag):
        BeamSettings(**kwargs)


def test_peak_memory_does_not_grow_with_steps(f32_model, long_prompt):
    """Reordering the cache every step (groups of 2) must not keep per-step copies: 4 and 40 steps peak alike
    (both fit the same 256-token KV buffer)."""
    import mlx.core as mx

    peaks = []
    for steps in (4, 40):
        mx.clear_cache()
        mx.reset_peak_memory()
        beam_search(f32_model[0], long_prompt, BeamSettings(6, 3, 0.7, 1.0, True, steps), harmony_stops(), PAD)
        peaks.append(mx.get_peak_memory())
    assert abs(peaks[1] - peaks[0]) < 1e6, peaks
