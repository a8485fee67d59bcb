"""`mlxclin generate`: one prompt through a backend, reasoning and answer printed apart, with timings."""

import click

from mlxclin.backends.base import EFFORTS, Request
from mlxclin.errors import MlxclinError


@click.command("generate")
@click.option("--model", required=True, help="mlx: model folder; openai: model name at the endpoint.")
@click.option("--prompt", "-p", required=True, help="User message.")
@click.option("--system", default=None, help="Instructions (become Harmony developer instructions for gpt-oss).")
@click.option("--backend", type=click.Choice(["mlx", "openai"]), default="mlx", show_default=True)
@click.option("--adapter-path", default=None, help="mlx: LoRA adapter folder.")
@click.option("--base-url", default=None, help="openai: endpoint URL.")
@click.option("--api-key-env", default=None, help="openai: NAME of the environment variable holding the key.")
@click.option("--allow-remote", is_flag=True, help="openai: allow a non-loopback endpoint.")
@click.option("--effort", type=click.Choice(EFFORTS), default="medium", show_default=True)
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--shard", type=click.Choice(["tensor"]), default=None,
              help="mlx: split the model over the ranks of `mlx.launch ... -- python -m mlxclin generate` "
                   "(mlx-lm sharded_load); every rank holds 1/N of the weights.")
def command(model, prompt, system, backend, adapter_path, base_url, api_key_env, allow_remote, effort, max_tokens,
            temperature, top_p, seed, shard):
    """Generate one reply and show reasoning, answer, speed and memory."""
    echo = click.echo
    if backend == "mlx" and shard == "tensor":
        from mlxclin.backends.mlx import MLXBackend
        from mlxclin.distributed import main_echo, parameter_bytes, tensor_parallel

        echo = main_echo(click.echo)   # every rank computes the same reply; rank 0 prints it
        with tensor_parallel(model) as ranks:
            impl = MLXBackend(model, adapter_path=adapter_path)
        echo(f"--- tensor parallel over {ranks.size} rank(s) ({ranks.backend}: {', '.join(ranks.hosts)}); rank 0 "
             f"holds {parameter_bytes(impl.model) / 1e6:.1f} MB of weights")
    elif shard:
        raise MlxclinError(f"--shard {shard} needs --backend mlx")
    elif backend == "mlx":
        from mlxclin.backends.mlx import MLXBackend

        impl = MLXBackend(model, adapter_path=adapter_path)
    else:
        from mlxclin.backends.openai_backend import OpenAIBackend

        impl = OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env, allow_remote=allow_remote)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    request = Request(id="generate", messages=messages, effort=effort, max_tokens=max_tokens,
                      temperature=temperature, top_p=top_p, seed=seed)
    c = impl.generate([request])[0]
    impl.close()
    if c.error:
        echo(f"error: {c.error}", err=True)
    echo(f"--- reasoning ({c.reasoning_tokens} tokens)\n{c.reasoning}")
    echo(f"--- answer\n{c.final}")
    fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)  # noqa: E731
    echo(f"--- {c.format} · status {c.status} · finish {c.finish_reason} · prompt {c.prompt_tokens} tok · "
         f"completion {c.completion_tokens} tok")
    echo(f"TTFT {fmt(c.ttft_s)} s · prefill {fmt(c.prefill_tps, '{:.1f}')} tok/s · decode "
         f"{fmt(c.decode_tps, '{:.1f}')} tok/s · latency {fmt(c.latency_s)} s · peak memory "
         f"{fmt(c.peak_memory_gb)} GB · RSS {fmt(c.rss_gb)} GB")
