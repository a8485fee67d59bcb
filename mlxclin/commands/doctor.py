"""`mlxclin doctor`: what this machine can run, and what to change so it can run more."""

import json

import click

from mlxclin import __version__

# Weights on disk after `mlxclin convert --recipe mxfp4` (MXFP4 experts, bf16 rest), in GB.
KNOWN_MODELS = {"gpt-oss-20b (mxfp4)": 13.0, "gpt-oss-120b (mxfp4)": 61.0}
KV_HEADROOM_GB = 4.0  # KV cache + activations for a few 4k-token requests, plus the runtime itself


def fit_table(info: dict) -> dict:
    """model -> {"needs_gb", "fits", "fits_after_wired_limit"} against this machine's usable memory."""
    usable = info["max_recommended_working_set_gb"] or info["memory_gb"] * 0.75
    ceiling = info["memory_gb"] - 8.0  # leave the OS ~8 GB even with a raised wired limit
    out = {}
    for name, gb in KNOWN_MODELS.items():
        need = gb + KV_HEADROOM_GB
        out[name] = {"needs_gb": need, "fits": need <= usable,
                     "fits_after_wired_limit": info["unified_memory"] and need <= ceiling}
    return out


# Qwen3.5 / Gemma 4 (issue 14): approximate total parameters (text model, from the model names) and the bits per
# weight `mlxclin convert` reports for each recipe (measured on the toys; real models land within ~0.1 of these).
FAMILY_MODELS = {"Qwen3.5-9B": 9.0e9, "Qwen3.5-27B": 27.0e9, "Qwen3.5-35B-A3B": 35.0e9, "Gemma-4-31B": 31.0e9}
RECIPE_BITS = {"bf16": 16.0, "q8": 8.55, "mixed_4_6": 5.0, "q4": 4.57}


def family_fit_table(info: dict) -> dict:
    """model -> recipe -> {"needs_gb", "fits"}: estimated weights (parameters x bits / 8) + KV headroom."""
    usable = info["max_recommended_working_set_gb"] or info["memory_gb"] * 0.75
    table = {}
    for name, params in FAMILY_MODELS.items():
        table[name] = {}
        for recipe, bits in RECIPE_BITS.items():
            need = params * bits / 8 / 1e9 + KV_HEADROOM_GB
            table[name][recipe] = {"needs_gb": round(need, 1), "fits": need <= usable, "estimated": True}
    return table


def collect() -> dict:
    from mlxclin.device import device_info
    from mlxclin.vocab import VOCAB_FILE, vocab_dir

    info = dict(device_info())
    info["mlxclin"] = __version__   # `doctor --hosts` compares it across machines
    try:
        folder = vocab_dir(materialize=False)
        info["harmony_vocab_offline"] = folder is not None or _can_materialize()
        info["harmony_vocab_path"] = str(folder / VOCAB_FILE) if folder else None
    except Exception:
        info["harmony_vocab_offline"], info["harmony_vocab_path"] = False, None
    info["models"] = fit_table(info)
    info["family_models"] = family_fit_table(info)
    info.update(compute_defaults())
    info["advice"] = advice(info)
    return info


def compute_defaults() -> dict:
    """The convert dtype (= activation dtype) this machine gets by default, and the memory budget the
    fine-tuning / eval pre-flight compares its estimates with."""
    from mlxclin.memory import memory_budget_gb
    from mlxclin.models.convert import default_dtype

    dtype, why = default_dtype()
    budget, source = memory_budget_gb()
    return {"default_dtype": dtype, "default_dtype_reason": why, "memory_budget_gb": budget,
            "memory_budget_source": source}


def _can_materialize() -> bool:
    from mlxclin.vocab import _bpe_openai_gz

    return _bpe_openai_gz() is not None


def advice(info: dict) -> list:
    tips = []
    if not info["metal"]:
        tips.append("no Metal GPU: MLX runs on the CPU here (fine for tests and toy models, slow for real ones)")
    for name, m in info["models"].items():
        if not m["fits"] and m["fits_after_wired_limit"]:
            mb = int((info["memory_gb"] - 8.0) * 1000)
            tips.append(f"{name} fits if you raise the GPU wired-memory limit: sudo sysctl iogpu.wired_limit_mb={mb}")
    if not info["harmony_vocab_offline"]:
        tips.append("install bpe-openai (pip install bpe-openai) so the Harmony vocabulary works offline")
    return tips


def report_hosts(hostfile, as_json: bool) -> None:
    """`doctor --hosts`: every machine of an mlx.launch hostfile, and which models fit split across them."""
    from mlxclin.cluster import check_hosts, format_fit, format_host, read_hostfile, split_fits, version_mismatches

    reports = check_hosts(read_hostfile(hostfile))
    fits, mismatches = split_fits(reports, KV_HEADROOM_GB), version_mismatches(reports)
    if as_json:
        click.echo(json.dumps({"hosts": [{"ssh": r.ssh, "reachable": r.reachable, "error": r.error, **r.info}
                                         for r in reports], "version_mismatches": mismatches, "models": fits},
                              indent=2))
        return
    for r in reports:
        click.echo(format_host(r))
    click.echo("versions: " + ("; ".join(mismatches) if mismatches else "mlxclin, mlx and mlx-lm match on every "
                                                                          "reachable host"))
    for row in fits:
        click.echo(format_fit(row))


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--hosts", "hostfile", type=click.Path(dir_okay=False), default=None,
              help="mlx.launch hostfile: check every host (ssh, versions, memory, models that fit when split).")
def command(as_json, hostfile):
    """Report OS, chip, memory, Metal/CUDA, MLX versions, the Harmony vocabulary and which models fit."""
    if hostfile:
        report_hosts(hostfile, as_json)
        return
    info = collect()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    mem = f"{info['memory_gb']} GB " + ("unified memory" if info["unified_memory"] else "RAM")
    if info["max_recommended_working_set_gb"]:
        mem += f" ({info['max_recommended_working_set_gb']} GB usable by the GPU)"
    rows = [("OS", f"{info['os']} ({info['machine']})"), ("chip", info["chip"]), ("memory", mem),
            ("Metal", "yes" if info["metal"] else "no"), ("CUDA", "yes" if info["cuda"] else "no"),
            ("mlx / mlx-lm", f"{info['mlx']} / {info['mlx_lm']} (default device {info['default_device']})"),
            ("dtype", f"convert --dtype default {info['default_dtype_reason']}"),
            ("memory budget", f"{info['memory_budget_gb']} GB for fine-tuning/eval pre-flight "
                              f"({info['memory_budget_source']})"),
            ("Harmony vocab", ("offline OK " + (info["harmony_vocab_path"] or "(from bpe-openai on first use)"))
             if info["harmony_vocab_offline"] else "NOT available offline")]
    for k, v in rows:
        click.echo(f"{k:<14} {v}")
    for name, m in info["models"].items():
        verdict = "fits" if m["fits"] else ("fits after raising the wired limit" if m["fits_after_wired_limit"]
                                            else "does not fit")
        click.echo(f"{name:<22} needs ~{m['needs_gb']:.0f} GB incl. KV cache: {verdict}")
    _print_family_table(info["family_models"])
    for tip in info["advice"]:
        click.echo(f"advice: {tip}")
    if info["os"].startswith("Darwin"):   # scale-out across Macs: what JACCL needs and what is missing here
        from mlxclin.cluster import jaccl_prerequisites, local_rdma_devices

        for line in jaccl_prerequisites(info["os"], local_rdma_devices()):
            click.echo(line)


def _print_family_table(table: dict) -> None:
    click.echo("Qwen3.5 / Gemma 4: weights + KV headroom in GB, estimated from parameter counts (* = fits here)")
    click.echo(f"  {'model':<18}" + "".join(f"{r:>11}" for r in RECIPE_BITS))
    for name, row in table.items():
        click.echo(f"  {name:<18}" + "".join(f"{row[r]['needs_gb']:>10.0f}{'*' if row[r]['fits'] else ' '}"
                                             for r in RECIPE_BITS))
