"""`mlxclin convert`: Hugging Face gpt-oss checkpoint -> MLX, with a quantization recipe and optional verification."""

import click

from mlxclin.models.convert import RECIPES
from mlxclin.models.family_convert import FAMILY_RECIPES


@click.command("convert")
@click.option("--hf-path", required=True, help="Local checkpoint folder or Hugging Face repo id.")
@click.option("--mlx-path", required=True, type=click.Path(), help="Output folder.")
@click.option("--recipe", type=click.Choice(tuple(dict.fromkeys(RECIPES + FAMILY_RECIPES))), default=None,
              help="gpt-oss: " + ", ".join(RECIPES) + " (default mxfp4); Qwen3.5 / Gemma 4: "
                   + ", ".join(FAMILY_RECIPES) + " (default bf16).")
@click.option("--group-size", type=int, default=None,
              help="Affine group size of q4/q8/mxfp4-q8: 32, 64 (default) or 128; 32 lets gpt-oss experts split "
                   "2 ways under --shard tensor.")
@click.option("--dtype", default=None,
              help="dtype of non-quantized weights and activations (default bfloat16 with Metal/CUDA, float32 on CPU).")
@click.option("--max-shard-gb", type=float, default=5.0, show_default=True, help="Largest output file.")
@click.option("--force", is_flag=True, help="Overwrite --mlx-path if it exists.")
@click.option("--verify", is_flag=True, help="Compare logits against an independent reference afterwards.")
def command(hf_path, mlx_path, recipe, group_size, dtype, max_shard_gb, force, verify):
    """Convert a gpt-oss, Qwen3.5 or Gemma 4 checkpoint to MLX."""
    from mlxclin.models.convert import convert

    if _convert_family(hf_path, mlx_path, recipe, group_size, dtype, force, verify, max_shard_gb):  # Qwen3.5 / Gemma 4
        return
    recipe = recipe or "mxfp4"

    r = convert(hf_path, mlx_path, recipe=recipe, group_size=group_size, dtype=dtype, force=force,
                max_shard_gb=max_shard_gb)
    _print_result(hf_path, r)
    click.echo(f"dtype: {r.dtype_note}")
    if verify:
        from mlxclin.models.verify import print_report, verify_conversion

        report = verify_conversion(hf_path, r.path, recipe, progress=True)
        print_report(report)
        report.raise_if_failed()


def _convert_family(hf_path, mlx_path, recipe, group_size, dtype, force, verify, max_shard_gb) -> bool:
    """Qwen3.5 / Gemma 4 (models/family_convert.py); refuses unsupported model types. False for gpt-oss."""
    from mlxclin.errors import MlxclinError
    from mlxclin.models.checkpoint import resolve_source
    from mlxclin.models.family_convert import check_supported, convert_family

    src = resolve_source(hf_path)
    if check_supported(src) == "gpt_oss":
        return False
    if dtype:
        raise MlxclinError("--dtype is for gpt-oss; for this family choose --recipe bf16 or f32")
    r = convert_family(src, mlx_path, recipe or "bf16", group_size, force, max_shard_gb)
    _print_result(hf_path, r)
    if verify:
        from mlxclin.models.family_verify import verify_family
        from mlxclin.models.verify import print_report

        report = verify_family(src, r.path, r.recipe)
        print_report(report)
        report.raise_if_failed()
    return True


def _print_result(hf_path, r) -> None:
    click.echo(f"converted {hf_path} -> {r.path} [recipe {r.recipe}, {r.dtype}]: {r.size_bytes / 1e9:.3f} GB on disk, "
               f"{r.bits_per_weight:.3f} bits per weight, peak memory {r.peak_memory_gb:.2f} GB, {r.seconds:.1f} s")
