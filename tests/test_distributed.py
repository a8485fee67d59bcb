"""mx.distributed scale-out: world info, request splitting, the tensor-split pre-flight, and 2-rank `--shard tensor`
generation through `mlx.launch` on loopback (ring backend) against the unsharded model."""

import json
import shutil

import pytest

from distributed_support import launch, mlxclin_errors
from mlxclin.distributed import (World, check_tensor_split, launch_hosts, max_head_split, rank_share,
                                 split_suggestion, tensor_split_problems)

# gpt-oss-120b's shapes (config.json on the Hub): 64 query / 8 KV heads of 64, expert width 2,880
GPT_OSS_120B = {"num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "hidden_size": 2880,
                "intermediate_size": 2880}
EXPERT_SCALES = {"model.layers.0.mlp.experts.down_proj.scales"}
PROMPT = ["-p", "Fever and a new murmur.", "--effort", "low", "--temperature", 0, "--max-tokens", 12, "--no-stream"]


def test_rank_share_deals_every_item_to_exactly_one_rank():
    items = list(range(13))
    shares = [rank_share(items, World(r, 3, ("h",) * 3, "ring")) for r in range(3)]
    assert sorted(sum(shares, [])) == items and [len(s) for s in shares] == [5, 4, 4]


def test_launch_hosts_reads_the_hostfile_mlx_launch_hands_each_rank(tmp_path, monkeypatch):
    hostfile = tmp_path / "ring.json"
    hostfile.write_text(json.dumps([["10.0.0.1:5000", "10.0.0.1:5001"], ["10.0.0.2:5000"]]))
    monkeypatch.setenv("MLX_HOSTFILE", str(hostfile))
    assert launch_hosts() == ["10.0.0.1", "10.0.0.2"]


def test_split_check_matches_what_gpt_oss_120b_quantizations_allow():
    mxfp4 = {**GPT_OSS_120B, "quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}}
    assert tensor_split_problems(mxfp4, EXPERT_SCALES, 2) == []
    assert tensor_split_problems(mxfp4, EXPERT_SCALES, 4) == [
        "mlp.experts.down_proj has 90 quantization groups of 32 (2880/32), which do not divide by 4"]
    affine64 = {**GPT_OSS_120B, "quantization": {"group_size": 64, "bits": 4, "mode": "affine"}}
    assert "45 quantization groups of 64" in tensor_split_problems(affine64, EXPERT_SCALES, 2)[0]
    assert "--group-size 32 splits 2 ways" in split_suggestion(affine64, 2)
    assert "--recipe bf16" in split_suggestion(mxfp4, 4)            # 2880 / 4 dense, but no group size
    assert tensor_split_problems(GPT_OSS_120B, set(), 8) == []       # dense: up to the 8 KV heads
    assert max_head_split(GPT_OSS_120B) == 8 and "KV heads" in tensor_split_problems(GPT_OSS_120B, set(), 16)[0]


def test_pre_flight_refuses_before_loading(toy_mlx_dir, tmp_path):
    """A checkpoint with its config and index but no weight files: the refusal must come from config alone."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors.index.json"):
        shutil.copy(toy_mlx_dir / name, bare / name)
    check_tensor_split(bare, 2)   # the toy's 2 groups of 32 and 4/2 heads split 2 ways
    from mlxclin.errors import MlxclinError

    with pytest.raises(MlxclinError, match="cannot be split 4 ways.*2 quantization groups of 32"):
        check_tensor_split(bare, 4)


@pytest.fixture(scope="module")
def toy_f32_dir(toy_hf_dir, tmp_path_factory):
    from mlxclin.models.convert import convert

    return convert(str(toy_hf_dir), tmp_path_factory.mktemp("toy-f32") / "f32", recipe="f32").path


def _reply(stdout: str) -> list:
    """The reasoning / answer / token-count lines of `mlxclin generate` (timings differ from run to run)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--- reasoning"))
    end = next(i for i, line in enumerate(lines) if line.startswith("--- harmony"))
    return lines[start:end] + [lines[end].split(" · prompt")[1]]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["f32", "mxfp4"])
def test_two_rank_tensor_parallel_generation_equals_unsharded(recipe, toy_mlx_dir, toy_f32_dir, run_mlxclin):
    model = toy_f32_dir if recipe == "f32" else toy_mlx_dir
    single = run_mlxclin("generate", "--model", model, *PROMPT)
    assert single.exit_code == 0, single.stderr
    sharded = launch(2, "generate", "--model", model, "--shard", "tensor", *PROMPT)
    assert not mlxclin_errors(sharded.stderr) and "Traceback" not in sharded.stderr, sharded.stderr
    # printed once (rank 0), split over both ranks: each holds less than the whole model
    assert sharded.stdout.count("--- reasoning") == 1, sharded.stdout
    header = next(line for line in sharded.stdout.splitlines() if line.startswith("--- tensor parallel"))
    assert "over 2 rank(s) (ring: 127.0.0.1, 127.0.0.1)" in header
    whole = sum(f.stat().st_size for f in model.glob("*.safetensors")) / 1e6
    assert float(header.split("holds ")[1].split(" MB")[0]) < whole
    assert _reply(sharded.stdout) == _reply(single.stdout)
    assert "completion 12 tok" in _reply(single.stdout)[-1]


@pytest.mark.slow
def test_four_way_split_of_a_two_group_checkpoint_is_refused_in_one_line(toy_mlx_dir):
    result = launch(4, "generate", "--model", toy_mlx_dir, "--shard", "tensor", "-p", "x", timeout=120)
    errors = mlxclin_errors(result.stderr)
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot be split 4 ways" in errors[0] and "4 query / 2 KV heads" in errors[0]
    assert "the heads allow at most 2 ways" in errors[0]


def test_doctor_hosts_checks_every_host_of_a_hostfile(tmp_path, run_mlxclin, monkeypatch):
    from distributed_support import launch_env

    monkeypatch.setenv("PYTHONPATH", launch_env()["PYTHONPATH"])   # the host probe runs `python -m mlxclin`
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps({"backend": "ring", "hosts": [{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]},
                                                                 {"ssh": "no-such-host.invalid"}]}))
    result = run_mlxclin("doctor", "--hosts", hostfile)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("host 0 127.0.0.1: reachable") and "mlxclin 0." in lines[0] and "mlx 0." in lines[0]
    assert lines[1].startswith("host 1 no-such-host.invalid: UNREACHABLE")
    assert "match on every reachable host" in lines[2]
    assert lines[3].startswith("gpt-oss-20b (mxfp4)    split 2 ways") and lines[4].startswith("gpt-oss-120b")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"ips": ["10.0.0.1"]}]))
    from support import assert_one_line_error

    assert_one_line_error(run_mlxclin("doctor", "--hosts", bad), "host 0 has no \"ssh\" name")


def test_split_fit_and_jaccl_advice():
    from mlxclin.cluster import HostReport, gpt_oss_weights_gb, jaccl_prerequisites, split_fits, version_mismatches

    split, whole = gpt_oss_weights_gb(36, 128)   # gpt-oss-120b: ~65 GB in mxfp4, of which ~2.3 GB stay whole
    assert 60 < split + whole < 68 and 2.2 < whole < 2.4
    macs = [HostReport(i, f"mac{i}", True, {"memory_gb": 64.0, "max_recommended_working_set_gb": 48.0,
                                            "mlx": "0.32.4", "mlx_lm": "0.32.2", "mlxclin": "0.1.0"})
            for i in range(2)]
    rows = {r["model"]: r for r in split_fits(macs, 4.0)}
    big = rows["gpt-oss-120b (mxfp4)"]
    assert big["splits"] and big["hosts_short"] == [] and big["hosts_short_replicated"] == [0, 1]
    four = {r["model"]: r for r in split_fits(macs * 2, 4.0)}["gpt-oss-120b (mxfp4)"]
    assert not four["splits"] and "90 quantization groups" in four["why_not"]
    macs[1].info["mlx"] = "0.31.0"
    assert version_mismatches(macs) == ["host 1 (mac1): mlx 0.31.0, host 0: 0.32.4"]
    assert "macOS-only" in jaccl_prerequisites("Linux 6.1", None)[0]
    advice = " ".join(jaccl_prerequisites("Darwin 25.2.0", []))
    assert "rdma_ctl enable" in advice and "no rdma_* device" in advice and "macOS 26.2" in advice


def test_convert_group_size_makes_an_affine_recipe_splittable(toy_hf_dir, tmp_path, run_mlxclin):
    from support import assert_one_line_error

    from mlxclin.errors import MlxclinError

    convert = ["convert", "--hf-path", toy_hf_dir, "--recipe", "q4"]
    assert run_mlxclin(*convert, "--mlx-path", tmp_path / "g64").exit_code == 0
    assert run_mlxclin(*convert, "--mlx-path", tmp_path / "g32", "--group-size", 32).exit_code == 0
    with pytest.raises(MlxclinError, match=r"1 quantization groups of 64.*--group-size 32 splits 2 ways"):
        check_tensor_split(tmp_path / "g64", 2)
    check_tensor_split(tmp_path / "g32", 2)   # the toy's expert width 64 = 2 groups of 32
    assert_one_line_error(run_mlxclin("convert", "--hf-path", toy_hf_dir, "--mlx-path", tmp_path / "x",
                                      "--group-size", 32), "--group-size applies to the affine recipes")
    assert_one_line_error(run_mlxclin(*convert, "--mlx-path", tmp_path / "y", "--group-size", 16),
                          "--group-size 16 is not supported; choose 32, 64, 128")


@pytest.mark.slow
def test_two_rank_tensor_parallel_eval_writes_the_unsharded_samples(toy_f32_dir, tiny_eurorad_csv, tmp_path,
                                                                     run_mlxclin):
    args = ["eval", "--task", "eurorad", "--model", toy_f32_dir, "--data", tiny_eurorad_csv, "--limit", 2, "--runs",
            2, "--max-tokens", 6, "--temperature", 0, "--batch-size", 2, "--quiet"]
    single = run_mlxclin(*args, "--out", tmp_path / "single")
    assert single.exit_code == 0, single.stderr
    sharded = launch(2, *args, "--out", tmp_path / "sharded", "--shard", "tensor")
    assert not mlxclin_errors(sharded.stderr) and "Traceback" not in sharded.stderr, sharded.stderr
    def raw(run):
        return {s["request_id"]: s["raw"] for s in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}

    assert raw(tmp_path / "sharded") == raw(tmp_path / "single") and len(raw(tmp_path / "single")) == 4
    assert sharded.stdout.count("wrote ") == 1   # rank 0 reports; rank 1 mirrored the work in a temporary folder
