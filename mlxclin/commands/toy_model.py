"""`mlxclin toy-model OUT_DIR`: a random gpt-oss checkpoint in the real Hugging Face layout (tiny, or
`--preset gpt-oss-20b|gpt-oss-120b` for the released dimensions with `--layers N`)."""

import shutil
from pathlib import Path

import click

from mlxclin.errors import MlxclinError
from mlxclin.models.family_toy import FAMILIES


@click.command("toy-model")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--preset", type=click.Choice(["gpt-oss-20b", "gpt-oss-120b"]), default=None,
              help="Released dimensions, config and shard names (written in chunks); only --layers/--seed apply.")
@click.option("--layers", default=None, type=int,
              help="Transformer layers (alternating sliding/full) [default: 2, or all of the preset's].")
@click.option("--experts", default=4, show_default=True, help="MoE experts per layer.")
@click.option("--experts-per-token", default=2, show_default=True)
@click.option("--hidden", default=64, show_default=True, help="Hidden size (multiple of 32).")
@click.option("--intermediate", default=64, show_default=True, help="Expert intermediate size (multiple of 32).")
@click.option("--sliding-window", default=32, show_default=True)
@click.option("--shards", default=2, show_default=True, help="Number of safetensors shards (at least 2).")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUT_DIR if it exists.")
@click.option("--family", type=click.Choice(("gpt_oss",) + FAMILIES), default="gpt_oss", show_default=True,
              help="Model family and Hugging Face layout of the checkpoint.")
def command(out_dir, preset, layers, experts, experts_per_token, hidden, intermediate, sliding_window, shards, seed,
            force, family):
    """Write a randomly initialised checkpoint: tiny gpt-oss (MXFP4 experts, real tokenizer), gpt-oss at the released
    dimensions (--preset), or Qwen3.5 / Gemma 4 (released layout, small tokenizer with the family's special tokens
    and chat template)."""
    from mlxclin.models.toy import ToyConfig, preset_config, write_toy_checkpoint

    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise MlxclinError(f"{out_dir} exists and is not empty (use --force to overwrite)")
        shutil.rmtree(out_dir)
    if family != "gpt_oss":  # Qwen3.5 / Gemma 4 toys live in models/family_toy.py
        if preset:
            raise MlxclinError(f"--preset {preset} is a gpt-oss size; drop --family {family}")
        return _write_family(out_dir, family, layers, experts, experts_per_token, hidden, sliding_window, shards, seed)
    if hidden % 32 or intermediate % 32:
        raise MlxclinError("--hidden and --intermediate must be multiples of 32 (the MXFP4 block size)")
    if experts_per_token > experts:
        raise MlxclinError("--experts-per-token cannot exceed --experts")
    if layers is not None and layers < 1:
        raise MlxclinError(f"--layers must be at least 1, got {layers}")
    if preset:
        cfg = preset_config(preset, layers, seed)
        write_toy_checkpoint(out_dir, cfg, progress=True)
        size = sum(f.stat().st_size for f in out_dir.iterdir()) / 1e9
        click.echo(f"wrote random {preset} checkpoint ({cfg.layers} layers, released dimensions) to {out_dir} "
                   f"({size:.2f} GB)")
        return
    layers = layers or 2
    cfg = ToyConfig(layers=layers, experts=experts, experts_per_token=experts_per_token, hidden=hidden,
                    intermediate=intermediate, sliding_window=sliding_window, shards=shards, seed=seed)
    write_toy_checkpoint(out_dir, cfg)
    size = sum(f.stat().st_size for f in out_dir.iterdir()) / 1e6
    click.echo(f"wrote toy gpt-oss checkpoint to {out_dir} ({size:.1f} MB, {layers} layers, {experts} experts)")


def _write_family(out_dir, family, layers, experts, experts_per_token, hidden, sliding_window, shards, seed):
    from mlxclin.models.family_toy import FamilyToyConfig, write_family_toy

    layers = 4 if layers in (None, 2) else layers  # 2 layers would hold no Qwen3.5 full-attention layer
    cfg = FamilyToyConfig(family=family, layers=layers, experts=experts, experts_per_token=experts_per_token,
                          hidden=hidden, sliding_window=sliding_window if sliding_window != 32 else 16,
                          shards=shards, seed=seed)
    write_family_toy(out_dir, cfg)
    size = sum(f.stat().st_size for f in out_dir.iterdir()) / 1e6
    click.echo(f"wrote toy {family} checkpoint to {out_dir} ({size:.1f} MB, {cfg.layers} layers)")
