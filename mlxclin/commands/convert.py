"""`mlxclin convert`: Hugging Face gpt-oss checkpoint -> MLX, with a quantization recipe and optional verification."""

import click

from mlxclin.models.convert import RECIPES


@click.command("convert")
@click.option("--hf-path", required=True, help="Local checkpoint folder or Hugging Face repo id.")
@click.option("--mlx-path", required=True, type=click.Path(), help="Output folder.")
@click.option("--recipe", type=click.Choice(RECIPES), default="mxfp4", show_default=True)
@click.option("--group-size", type=int, default=None, help="Affine quantization group size (default 64).")
@click.option("--dtype", default=None,
              help="dtype of non-quantized weights and activations (default bfloat16 with Metal/CUDA, float32 on CPU).")
@click.option("--max-shard-gb", type=float, default=5.0, show_default=True, help="Largest output file.")
@click.option("--force", is_flag=True, help="Overwrite --mlx-path if it exists.")
@click.option("--verify", is_flag=True, help="Compare logits against an independent reference afterwards.")
def command(hf_path, mlx_path, recipe, group_size, dtype, max_shard_gb, force, verify):
    """Convert a gpt-oss checkpoint (MXFP4 experts) to MLX."""
    from mlxclin.models.convert import convert

    r = convert(hf_path, mlx_path, recipe=recipe, group_size=group_size, dtype=dtype, force=force,
                max_shard_gb=max_shard_gb)
    click.echo(f"converted {hf_path} -> {r.path} [recipe {r.recipe}, {r.dtype}]: {r.size_bytes / 1e9:.3f} GB on disk, "
               f"{r.bits_per_weight:.3f} bits per weight, peak memory {r.peak_memory_gb:.2f} GB, {r.seconds:.1f} s")
    click.echo(f"dtype: {r.dtype_note}")
    if verify:
        from mlxclin.models.verify import print_report, verify_conversion

        report = verify_conversion(hf_path, r.path, recipe, progress=True)
        print_report(report)
        report.raise_if_failed()
