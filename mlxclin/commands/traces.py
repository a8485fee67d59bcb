"""`mlxclin traces`: reasoning traces for training cases, written by a teacher model through any backend.

    mlxclin traces --data ../shared/data/clinical/eurorad_train_messages.jsonl --model models/gpt-oss-120b \\
        --out traces/eurorad-120b.jsonl --effort high
    mlxclin traces --data ... --backend openai --model gpt-oss-120b --base-url http://127.0.0.1:8080/v1 --out ...

Rerunning the same command continues where it stopped. Feed the result to `mlxclin finetune prepare --traces`.
"""

import click

from mlxclin.backends.base import EFFORTS
from mlxclin.errors import MlxclinError


@click.command("traces")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Training cases: messages jsonl or a CSV with the Eurorad columns.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Traces jsonl (appended; resumable).")
@click.option("--backend", type=click.Choice(["mlx", "openai"]), default="mlx", show_default=True)
@click.option("--model", required=True, help="mlx: teacher model folder; openai: model name at the endpoint.")
@click.option("--adapter-path", type=click.Path(file_okay=False), default=None, help="mlx: LoRA adapters.")
@click.option("--base-url", default=None, help="openai: endpoint, e.g. http://127.0.0.1:8080/v1.")
@click.option("--api", type=click.Choice(["chat", "responses"]), default=None, help="openai: API style.")
@click.option("--api-key-env", default=None, help="openai: NAME of the environment variable holding the API key.")
@click.option("--allow-remote", is_flag=True, help="openai: allow sending cases to a non-loopback endpoint.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="mlx: batched requests.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="openai: requests in flight.")
@click.option("--effort", type=click.Choice(EFFORTS), default="high", show_default=True)
@click.option("--max-tokens", type=int, default=4096, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N cases.")
@click.option("--min-chars", type=int, default=200, show_default=True, help="Shortest reasoning kept.")
@click.option("--max-chars", type=int, default=8000, show_default=True, help="Longest reasoning kept.")
@click.option("--prompt-file", default=None, help="Teacher prompt instead of mlxclin/configs/finetune/teacher_eurorad.txt.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(data, out, backend, model, adapter_path, base_url, api, api_key_env, allow_remote, batch_size,
            concurrency, effort, max_tokens, temperature, seed, limit, min_chars, max_chars, prompt_file, quiet):
    """Have a teacher write reasoning traces that reach each case's gold diagnosis; keep only those that do."""
    from pathlib import Path

    from mlxclin.finetune.cases import load_cases
    from mlxclin.finetune.traces import TraceLimits, generate_traces, teacher_prompt

    if min_chars < 0 or max_chars <= min_chars:
        raise MlxclinError("--max-chars must exceed --min-chars (and both be >= 0)")
    cases = load_cases(data, limit)
    teacher_prompt(prompt_file)  # a bad prompt file fails before a model is loaded
    if backend == "mlx":
        if not (Path(model) / "config.json").is_file():
            raise MlxclinError(f"{model} is not a model folder (no config.json)")
        from mlxclin.backends.mlx import MLXBackend

        impl, chunk = MLXBackend(model, adapter_path=adapter_path, batch_size=batch_size), batch_size
    else:
        from mlxclin.backends.openai_backend import OpenAIBackend

        impl = OpenAIBackend(model, base_url=base_url, api=api, api_key_env=api_key_env,
                             allow_remote=allow_remote, concurrency=concurrency)
        chunk = concurrency
    try:
        counts = generate_traces(cases, impl, out, effort=effort, max_tokens=max_tokens, temperature=temperature,
                                 seed=seed, chunk=chunk, limits=TraceLimits(min_chars, max_chars),
                                 prompt_file=prompt_file, teacher=model, progress=not quiet)
    finally:
        impl.close()
    click.echo(f"traces -> {out}: {counts['accepted']} accepted, {counts['rejected']} rejected, "
               f"{counts['skipped']} already done")
    for reason, n in sorted(counts["reasons"].items(), key=lambda kv: -kv[1]):
        click.echo(f"  rejected: {reason}: {n}")
