"""`mlxclin eval --decoding beam`: one request = one diverse beam search; every beam stored in samples.jsonl, the
voted answer scored; resume after SIGKILL without duplicates; bad settings fail in one line naming the flag."""

import json

import pytest

from support import assert_one_line_error, sigkill_eval_after


def _samples(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _beam_args(model, data, out, *extra):
    return ["eval", "--task", "eurorad", "--decoding", "beam", "--beams", "13", "--beam-groups", "13",
            "--model", str(model), "--data", str(data), "--limit", "2", "--max-tokens", "4", "--out", str(out),
            "--quiet", *extra]


@pytest.mark.slow
def test_beam_eval_stores_13_beams_and_resumes_after_sigkill(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin):
    out = tmp_path / "beams"
    samples = out / "samples.jsonl"
    killed_at = sigkill_eval_after(_beam_args(toy_mlx_dir, tiny_eurorad_csv, out), samples, lines=2)
    assert 2 <= killed_at < 6

    resumed = run_mlxclin(*_beam_args(toy_mlx_dir, tiny_eurorad_csv, out))
    assert resumed.exit_code == 0, resumed.stderr
    assert f"{killed_at} of 6 requests done" in resumed.stderr
    rows = _samples(samples)
    assert sorted(s["request_id"] for s in rows) == sorted({s["request_id"] for s in rows}) and len(rows) == 6
    for s in rows:
        assert len(s["beams"]) == 13
        assert [b["score"] for b in s["beams"]] == sorted((b["score"] for b in s["beams"]), reverse=True)
        assert all(len(b["tokens"]) == 4 and "answer" in b for b in s["beams"])
        assert s["vote"]["rule"] == "majority" and s["vote"]["total"] == 13
        voted = s["beams"][s["vote"]["beam"]]["answer"]
        assert s["prediction"] == voted and s["correct"] is False   # a random toy model answers nothing right
        assert s["completion_tokens"] == 13 * 4   # every beam's tokens count in throughput
    # greedy beam search is deterministic: the runs of an item agree across the kill
    by_item = {}
    for s in rows:
        by_item.setdefault(s["item_id"], set()).add(json.dumps([b["tokens"] for b in s["beams"]]))
    assert all(len(v) == 1 for v in by_item.values())
    config = json.loads((out / "config.json").read_text())
    assert config["decoding"] == {"method": "beam", "beams": 13, "beam_groups": 13, "diversity_penalty": 0.5,
                                  "length_penalty": 1.0, "early_stopping": True, "vote": "majority"}
    perf = json.loads((out / "perf.json").read_text())
    assert perf["total"]["decode_tps_aggregate"] > 0 and perf["total"]["peak_memory_gb"] > 0

    changed = run_mlxclin(*_beam_args(toy_mlx_dir, tiny_eurorad_csv, out, "--vote", "logprob-fallback"))
    assert_one_line_error(changed, "different settings", "decoding")


@pytest.mark.parametrize("extra, fragment", [
    (["--beam-groups", "4", "--beams", "6"], "--beam-groups"),
    (["--vote", "plurality"], "--vote"),
    (["--diversity-penalty", "-1"], "--diversity-penalty"),
    (["--decoding", "greedy"], "--decoding"),
])
def test_bad_beam_settings_fail_in_one_line(toy_mlx_dir, tiny_eurorad_csv, tmp_path, run_mlxclin, extra, fragment):
    args = ["eval", "--task", "eurorad", "--decoding", "beam", "--model", str(toy_mlx_dir), "--data",
            str(tiny_eurorad_csv), "--out", str(tmp_path / "x"), "--quiet", *extra]
    assert_one_line_error(run_mlxclin(*args), fragment)


def test_beam_decoding_needs_the_mlx_backend(tiny_eurorad_csv, tmp_path, run_mlxclin):
    result = run_mlxclin("eval", "--task", "eurorad", "--decoding", "beam", "--backend", "openai", "--model", "m",
                         "--base-url", "http://127.0.0.1:9/v1", "--data", str(tiny_eurorad_csv), "--quiet",
                         "--out", str(tmp_path / "x"))
    assert_one_line_error(result, "--decoding beam needs --backend mlx")


def test_study_recipe_toml_holds_the_study_settings():
    from mlxclin.evaluation.beams import beam_config
    from mlxclin.evaluation.spec import EvalSpec
    from mlxclin.paths import config_file

    spec = EvalSpec.from_sources(config_file("eval", "eurorad-finetuned-beams.toml"), model="m")
    assert (spec.task, spec.max_tokens, spec.runs) == ("eurorad", 3000, 3)
    assert beam_config(spec) == {"method": "beam", "beams": 13, "beam_groups": 13, "diversity_penalty": 0.5,
                                 "length_penalty": 1.0, "early_stopping": True, "vote": "majority"}
