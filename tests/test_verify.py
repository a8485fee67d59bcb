"""`convert --verify` against transformers on CPU torch, and the YaRN `truncate: false` fidelity trap."""

import numpy as np
import pytest

from mlxclin.models.gpt_oss import yarn_inverse_frequencies
from mlxclin.models.verify import THRESHOLDS, verify_conversion


def test_yarn_frequencies_match_transformers():
    torch = pytest.importorskip("torch")
    from transformers import GptOssConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
               "original_max_position_embeddings": 4096}
    cfg = GptOssConfig(head_dim=64, rope_parameters={**scaling, "rope_theta": 150000.0})
    ref, _ = ROPE_INIT_FUNCTIONS["yarn"](cfg, torch.device("cpu"))
    ours = np.array(yarn_inverse_frequencies(64, 150000.0, scaling))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
    rounded = np.array(yarn_inverse_frequencies(64, 150000.0, {**scaling, "truncate": True}))
    differs = np.abs(rounded - ours) / ours > 1e-3
    assert differs.sum() == 9  # what mlx-lm 0.32 computes for every gpt-oss, whatever the config says


@pytest.mark.torch
@pytest.mark.slow
def test_verify_mxfp4_against_transformers(toy_hf_dir, toy_mlx_dir):
    pytest.importorskip("torch")
    recipe = "mxfp4"
    report = verify_conversion(toy_hf_dir, toy_mlx_dir, recipe)
    assert report.reference.startswith("transformers")
    limit = THRESHOLDS[recipe][0]
    sliding_window = 32
    assert max(p.tokens for p in report.prompts) > 4 * sliding_window  # past the window, where YaRN matters
    for p in report.prompts:
        assert p.top1_agreement == 1.0, p
        assert p.max_abs_diff <= limit, p
    assert report.passed


@pytest.mark.torch
@pytest.mark.slow
def test_uncorrected_mlx_lm_fails_the_same_threshold(toy_hf_dir, toy_mlx_dir):
    pytest.importorskip("torch")
    report = verify_conversion(toy_hf_dir, toy_mlx_dir, "mxfp4", fix_rope=False)
    assert not report.passed
    long = max(report.prompts, key=lambda p: p.tokens)
    assert long.max_abs_diff > 100 * THRESHOLDS["mxfp4"][0]


@pytest.mark.torch
@pytest.mark.slow
def test_cli_verify_f32_against_transformers(run_mlxclin, toy_hf_dir, tmp_path):
    pytest.importorskip("torch")
    result = run_mlxclin("convert", "--hf-path", toy_hf_dir, "--mlx-path", tmp_path / "m", "--recipe", "f32",
                         "--verify")
    assert result.exit_code == 0, result.stderr
    assert "verify [f32] against transformers" in result.stdout and "PASS" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if "tokens" in line and "top-1" in line]
    assert len(rows) == 3
    for row in rows:  # name, N, "tokens", "max", "|dlogit|", value, "top-1", pct, "KL", value
        assert float(row[5]) <= THRESHOLDS["f32"][0] and row[7] == "100.0%"
