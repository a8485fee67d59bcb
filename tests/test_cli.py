"""The CLI shell: lazy commands, version, doctor, one-line errors."""

import json
import subprocess
import sys

from mlxclin import __version__
from mlxclin.cli import COMMANDS


def test_help_lists_commands_without_importing_mlx():
    code = ("import sys; from mlxclin.cli import main; rc = main(['--help']); "
            "heavy = [m for m in ('mlx.core', 'mlx_lm', 'torch', 'transformers') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout
    assert "HEAVY []" in out.stdout  # --help stays fast because nothing heavy is imported


def test_version(run_mlxclin):
    result = run_mlxclin("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_unknown_command_is_one_line(run_mlxclin):
    result = run_mlxclin("frobnicate")
    assert result.exit_code != 0 and "Traceback" not in result.stderr


def test_doctor_json_is_machine_readable(run_mlxclin):
    result = run_mlxclin("doctor", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    for key in ("os", "chip", "memory_gb", "metal", "cuda", "mlx", "mlx_lm", "harmony_vocab_offline", "models"):
        assert key in info
    assert info["memory_gb"] > 0
    assert set(info["models"]) == {"gpt-oss-20b (mxfp4)", "gpt-oss-120b (mxfp4)"}
    assert info["harmony_vocab_offline"] is True  # the test environment materializes it from bpe-openai


def test_doctor_text(run_mlxclin):
    result = run_mlxclin("doctor")
    assert result.exit_code == 0
    for label in ("OS", "chip", "memory", "Metal", "mlx / mlx-lm", "Harmony vocab", "gpt-oss-20b"):
        assert label in result.stdout


def test_doctor_fit_logic():
    from mlxclin.commands.doctor import fit_table

    mac = {"max_recommended_working_set_gb": 48.0, "memory_gb": 64.0, "unified_memory": True}
    fits = fit_table(mac)
    assert fits["gpt-oss-20b (mxfp4)"]["fits"] and not fits["gpt-oss-120b (mxfp4)"]["fits"]
    assert not fits["gpt-oss-120b (mxfp4)"]["fits_after_wired_limit"]  # 65 GB > 64 - 8
    big = fit_table({"max_recommended_working_set_gb": 96.0, "memory_gb": 128.0, "unified_memory": True})
    assert all(m["fits"] for m in big.values())
    linux = fit_table({"max_recommended_working_set_gb": None, "memory_gb": 24.0, "unified_memory": False})
    assert linux["gpt-oss-20b (mxfp4)"]["fits"] is True and linux["gpt-oss-20b (mxfp4)"]["fits_after_wired_limit"] is False


def test_demo_prints_commands_that_paste_back_into_a_shell(tmp_path):
    import shlex

    from mlxclin.commands.demo import command_line

    args = ["generate", "--model", tmp_path / "toy mlx", "--prompt", "Name one cause of acute chest pain.",
            "--system", "it's $HOME; `x`", "--max-tokens", 32]
    line = command_line(args)
    assert line.startswith("mlxclin generate ")
    assert shlex.split(line) == ["mlxclin", *[str(a) for a in args]]
