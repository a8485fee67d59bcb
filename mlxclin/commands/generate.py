"""`mlxclin generate`: one prompt through a backend, reasoning and answer printed apart, with timings.

With the mlx backend the reply is streamed to the terminal token by token (a long reasoning is never minutes of
silence): the Harmony analysis and final channels appear under their own headings as they are generated.
"""

import click

from mlxclin.backends.base import EFFORTS, Request
from mlxclin.decoding.sampling import sampling_line
from mlxclin.errors import MlxclinError

HARMONY_HOLD = 24   # a "header" this long is not Harmony: the model is emitting plain tokens


class HarmonyStreamPrinter:
    """Prints a gpt-oss reply as its token ids arrive: message text under '--- <channel>' headings.

    Header tokens (<|start|>assistant<|channel|>final<|message|>) are held back until the header ends; a model that
    never writes a Harmony header (a random toy, a broken fine-tune) has its tokens shown raw instead of nothing.
    """

    def __init__(self, tokenizer, echo):
        from openai_harmony import Role, StreamableParser, StreamState

        from mlxclin.vocab import harmony_encoding

        self._parser = StreamableParser(harmony_encoding(), role=Role.ASSISTANT)
        self._header_state, self._tokenizer, self._echo = StreamState.HEADER, tokenizer, echo
        self._held, self._raw, self._channel, self.shown = [], False, None, 0

    def __call__(self, token: int) -> None:
        try:
            self._parser.process(token)
        except Exception:  # noqa: BLE001 - not Harmony any more: show the rest raw, parsing reports it afterwards
            self._raw = True
        if self._raw:
            self._show(self._tokenizer.decode(self._held + [token]))
            self._held = []
            return
        channel, delta = self._parser.current_channel, self._parser.last_content_delta
        if self._parser.state == self._header_state:
            self._held.append(token)
            if len(self._held) > HARMONY_HOLD:
                self._raw = True
                self._show("--- raw tokens (no Harmony header)\n" + self._tokenizer.decode(self._held))
                self._held = []
            return
        self._held = []
        if delta:
            if channel != self._channel:
                self._channel = channel
                self._show(f"\n--- {channel} (streaming)\n")
            self._show(delta)

    def flush(self) -> None:
        """At the end: header tokens still held back were not a header after all; show them."""
        if self._held:
            self._show("--- raw tokens (no Harmony header)\n" + self._tokenizer.decode(self._held))
            self._held = []

    def _show(self, text: str) -> None:
        self.shown += 1
        self._echo(text, nl=False)


@click.command("generate")
@click.option("--model", required=True, help="mlx: model folder; openai: model name at the endpoint.")
@click.option("--prompt", "-p", required=True, help="User message.")
@click.option("--system", default=None, help="Instructions (become Harmony developer instructions for gpt-oss).")
@click.option("--backend", type=click.Choice(["mlx", "openai"]), default="mlx", show_default=True)
@click.option("--adapter-path", default=None, help="mlx: LoRA adapter folder.")
@click.option("--base-url", default=None, help="openai: endpoint URL.")
@click.option("--api-key-env", default=None, help="openai: NAME of the environment variable holding the key.")
@click.option("--allow-remote", is_flag=True, help="openai: allow a non-loopback endpoint.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="openai: seconds to wait for the server (connect, first byte, each streamed chunk).")
@click.option("--effort", type=click.Choice(EFFORTS), default="medium", show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--temperature", default=None, help="0 = greedy. Default for the five sampling options: the model's "
                                                  "recommended sampling, as `mlxclin eval` (docs/sampling.md).")
@click.option("--top-p", default=None, help="Nucleus sampling after --top-k; 1 = off.")
@click.option("--top-k", default=None, help="Keep the K most probable tokens; 0 = off.")
@click.option("--min-p", default=None, help="Drop tokens below MIN_P x the top token's probability; 0 = off.")
@click.option("--presence-penalty", default=None, help="Penalty on tokens already generated in this reply.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-stream", is_flag=True, help="mlx: print the reply only when it is complete.")
@click.option("--shard", type=click.Choice(["tensor"]), default=None,
              help="mlx: split the model over the ranks of `mlx.launch ... -- python -m mlxclin generate` "
                   "(mlx-lm sharded_load); every rank holds 1/N of the split layers.")
def command(model, prompt, system, backend, adapter_path, base_url, api_key_env, allow_remote, timeout, effort,
            max_tokens, seed, no_stream, shard, **flags):
    """Generate one reply and show reasoning, answer, speed and memory."""
    from mlxclin.evaluation.spec import check_setting, sampling_settings

    if shard and backend != "mlx":
        raise MlxclinError(f"--shard {shard} needs --backend mlx")
    flag = lambda name: f"--{name.replace('_', '-')}"  # noqa: E731
    explicit = {name: (check_setting(name, value, flag(name)), flag(name)) for name, value in flags.items()}
    if backend == "mlx":
        from mlxclin.backends.mlx import MLXBackend

        loaded = _load_sharded(model, adapter_path) if shard else None
        impl = MLXBackend(model, adapter_path=adapter_path, loaded=loaded)
        sampling, sources = sampling_settings(explicit, model)
    else:
        from mlxclin.backends.openai_backend import OpenAIBackend, api_sampling

        impl = OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env, allow_remote=allow_remote,
                             timeout_s=timeout)
        sampling, sources = sampling_settings(explicit, None)
        api_sampling(impl.api, impl.base_url, sampling, sources)   # refuses what the API cannot take
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    request = Request(id="generate", messages=messages, effort=effort, max_tokens=max_tokens, seed=seed,
                      **sampling)
    click.echo(f"--- {sampling_line(sampling, sources)}")
    streamed = backend == "mlx" and not no_stream
    if streamed:
        if impl.harmony:
            printer = HarmonyStreamPrinter(impl.tokenizer, click.echo)
        else:
            def printer(token, decode=impl.tokenizer.decode):
                click.echo(decode([token]), nl=False)
        (c,) = impl.stream([request], on_token=lambda _request, token: printer(token))
        getattr(printer, "flush", lambda: None)()
        click.echo()
    else:
        c = impl.generate([request])[0]
    impl.close()
    _print_result(c, streamed)


def _load_sharded(model, adapter_path):
    """This rank's slice of the model (mlx-lm sharded_load); only rank 0 prints from here on."""
    import mlx.core as mx

    from mlxclin.distributed import load_sharded, parameter_bytes, quiet_other_ranks, world

    quiet_other_ranks()
    loaded = load_sharded(model, mx.distributed.init(), adapter_path)
    ranks = world()
    click.echo(f"--- tensor parallel over {ranks.size} rank(s) ({ranks.backend}: {', '.join(ranks.hosts)}); rank 0 "
               f"holds {parameter_bytes(loaded[0]) / 1e6:.1f} MB of weights")
    return loaded


def _print_result(c, streamed: bool) -> None:
    if c.error:
        click.echo(f"error: {c.error}", err=True)
    if streamed:   # the text is on screen already; say what the parser made of it
        click.echo(f"--- parsed: reasoning {c.reasoning_tokens} tokens, answer {c.final!r}")
    else:
        click.echo(f"--- reasoning ({c.reasoning_tokens} tokens)\n{c.reasoning}")
        click.echo(f"--- answer\n{c.final}")
    fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)  # noqa: E731
    click.echo(f"--- {c.format} · status {c.status} · finish {c.finish_reason} · prompt {c.prompt_tokens} tok · "
               f"completion {c.completion_tokens} tok")
    click.echo(f"TTFT {fmt(c.ttft_s)} s · prefill {fmt(c.prefill_tps, '{:.1f}')} tok/s · decode "
               f"{fmt(c.decode_tps, '{:.1f}')} tok/s · latency {fmt(c.latency_s)} s · peak memory "
               f"{fmt(c.peak_memory_gb)} GB · RSS {fmt(c.rss_gb)} GB")
