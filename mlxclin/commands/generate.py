"""`mlxclin generate`: one prompt through a backend, reasoning and answer printed apart, with timings."""

import click

from mlxclin.backends.base import EFFORTS, Request


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
def command(model, prompt, system, backend, adapter_path, base_url, api_key_env, allow_remote, effort, max_tokens,
            temperature, top_p, seed):
    """Generate one reply and show reasoning, answer, speed and memory."""
    if backend == "mlx":
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
        click.echo(f"error: {c.error}", err=True)
    click.echo(f"--- reasoning ({c.reasoning_tokens} tokens)\n{c.reasoning}")
    click.echo(f"--- answer\n{c.final}")
    fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)  # noqa: E731
    click.echo(f"--- {c.format} · status {c.status} · finish {c.finish_reason} · prompt {c.prompt_tokens} tok · "
               f"completion {c.completion_tokens} tok")
    click.echo(f"TTFT {fmt(c.ttft_s)} s · prefill {fmt(c.prefill_tps, '{:.1f}')} tok/s · decode "
               f"{fmt(c.decode_tps, '{:.1f}')} tok/s · latency {fmt(c.latency_s)} s · peak memory "
               f"{fmt(c.peak_memory_gb)} GB · RSS {fmt(c.rss_gb)} GB")
