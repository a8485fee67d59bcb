"""`mlxclin eval`: flags -> EvalSpec -> `mlxclin.evaluation.evaluate` -> printed summary.

Replay example (reproduces the paper's Eurorad GPT-5.1 row from the stored predictions):

    mlxclin eval --task eurorad --backend replay --data ../shared/data/clinical/eurorad_test.csv \\
        --replay-columns "gpt-5.1-1113-M1,gpt-5.1-1113-M2,gpt-5.1-1113-M3" --out runs/eurorad-gpt51

Values are checked by EvalSpec (the same checks and messages for flags and --config files), not by Click.
"""

import click

from mlxclin.evaluation.perf import summary_table


def _print_summary(metrics: dict, family: str = "") -> None:
    """family: "Qwen3.5 · thinking on" for a Qwen3.5 / Gemma 4 run, "" otherwise."""
    echo = click.echo
    head = f"{metrics['task']} · {metrics['model']}{f' · {family}' if family else ''} · {metrics['runs']} run(s)"
    if "accuracy" in metrics:
        acc = metrics["accuracy"]
        echo(f"{head} · {metrics['n_items']} items")
        echo(f"  accuracy (majority of runs) {acc['pct']:.1f}% (95% CI {acc['ci_low']:.1f}-{acc['ci_high']:.1f}), "
             f"{acc['correct']}/{acc['n']}")
        runs = ", ".join("-" if p is None else f"{p:.1f}" for p in metrics["per_run_accuracy"])
        kappa = metrics["fleiss_kappa"]
        echo(f"  per run {runs} · pass@{metrics['runs']} {metrics['pass_at_k']['pct']:.1f}% · Fleiss kappa "
             f"{'n/a' if kappa is None else f'{kappa:.3f}'}")
        echo("  match types " + ", ".join(f"{k} {v}" for k, v in metrics["match_types"].items()))
        for group, g in metrics["groups"].items():
            echo(f"    {group:<45} {g['pct']:5.1f}%  {g['correct']}/{g['n']}")
    else:
        echo(head)
        for subset, m in metrics["subsets"].items():
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            echo(f"  {subset}: n {m['n']} · median error {fmt(m['median_error'])} (IQR {fmt(m['iqr_low'])} to "
                 f"{fmt(m['iqr_high'])}) · MAE {fmt(m['mae'])} · Spearman {fmt(m['spearman'])} · "
                 f"Pearson {fmt(m['pearson'])} · ICC(3,k) {fmt(m['icc3k'])} · unparsed runs {m['unparsed_runs']}")
    echo(f"  samples {metrics['n_samples']} · unparsed {metrics['n_unparsed']} · failed requests {metrics['n_errors']}"
         + (" (no answer: not scored, a run without an answer counts as not correct; rerun the same command to ask "
            "them again)" if metrics["n_errors"] else ""))


@click.command("eval")
@click.option("--task", default=None, help="eurorad (generalist), ophtho (specialist), judge (clinical-judge).")
@click.option("--data", default=None,
              help="Data file (CSV/JSONL), or a folder holding the task's files by their released names "
                   "(judge without --subset needs the folder). Default: download the released file (cached).")
@click.option("--backend", default=None, help="mlx (default), openai or replay.")
@click.option("--model", default=None,
              help="mlx: model folder; openai: model name at the endpoint; replay: label (default from the columns).")
@click.option("--adapter-path", default=None, help="mlx: LoRA adapter folder (mlx-lm format).")
@click.option("--base-url", default=None, help="openai: endpoint, e.g. http://127.0.0.1:8080/v1 (mlx_lm.server).")
@click.option("--api-model", default=None, help="openai: model name sent to the endpoint (default: --model).")
@click.option("--api", default=None, help="openai: chat or responses (default: responses for OpenAI cloud, chat "
                                          "with --base-url).")
@click.option("--api-key-env", default=None, help="openai: NAME of the environment variable holding the API key.")
@click.option("--allow-remote", is_flag=True, default=None, help="openai: allow sending data to a non-loopback "
                                                                 "endpoint.")
@click.option("--timeout", default=None, help="openai: seconds without a byte from the server before a request is "
                                              "retried (default 600).")
@click.option("--runs", default=None, help="Runs per item (default 3; replay: one per replay column).")
@click.option("--seed", default=None, help="Base seed (default 0); each request's seed derives from it, its item "
                                           "and its run.")
@click.option("--subset", default=None, help="Task subset, e.g. diagnosis or treatment for judge (default: all).")
@click.option("--effort", "efforts", multiple=True,
              help="Reasoning effort low|medium|high; repeat to sweep efforts in one run dir (default medium).")
@click.option("--temperature", default=None, help="Sampling temperature; 0 = greedy. Default for this and the "
                                                  "next four: the model's recommended sampling (Qwen3.5, Gemma 4: "
                                                  "generation_config.json, then the model card; else gpt-oss's: "
                                                  "temperature 1, the rest off). See docs/sampling.md.")
@click.option("--top-p", default=None, help="Nucleus sampling, applied after --top-k; 1 = off.")
@click.option("--top-k", default=None, help="Keep the K most probable tokens; 0 = off.")
@click.option("--min-p", default=None, help="Drop tokens below MIN_P x the top token's probability; 0 = off.")
@click.option("--presence-penalty", default=None, help="Subtract this from the logits of tokens already generated "
                                                       "in this answer (not the prompt); 0 = off.")
@click.option("--max-tokens", default=None, help="Max generated tokens per request (default 4096).")
@click.option("--batch-size", default=None, help="mlx: sequences decoding together (continuous batching).")
@click.option("--concurrency", default=None, help="openai: requests in flight (default 4).")
@click.option("--retry-unparsed", default=None,
              help="Re-sample an item whose answer cannot be parsed, up to N times (counted in samples).")
@click.option("--ids", default=None, help="Only these item ids (comma-separated).")
@click.option("--out", default=None, help="Run directory (default runs/<task>-<model>).")
@click.option("--replay-columns", default=None, help="Replay: comma-separated columns of the data file, one per run.")
@click.option("--map-options", is_flag=True, default=None,
              help="Replay: map stored answers onto the options first (by default they are scored as stored).")
@click.option("--protocol", default=None,
              help="Scoring rules: mlxclin (default) or paper (the study's scripts); see docs/reproduce.md.")
@click.option("--prompt-file", "prompt_files", multiple=True,
              help="Prompt template replacing mlxclin/configs/prompts/<task>.txt; SUBSET=PATH for one subset. Repeatable.")
@click.option("--limit", default=None, help="Only the first N items (per subset).")
@click.option("--decoding", default=None, help="mlx: sample (default) or beam (diverse beam search, the study's "
                                               "fine-tuned protocol; one search per request).")
@click.option("--beams", default=None, help="beam: number of beams (default 13).")
@click.option("--beam-groups", default=None, help="beam: diversity groups; must divide --beams (default: --beams).")
@click.option("--diversity-penalty", default=None, help="beam: Hamming diversity penalty between groups (default "
                                                        "0.5).")
@click.option("--length-penalty", default=None, help="beam: score = sum log-prob / length ** this (default 1.0).")
@click.option("--vote", default=None, help="beam: majority (default; ties to the best beam) or logprob-fallback "
                                           "(highest mean log-prob beam when under half agree).")
@click.option("--shard", default=None, help="mlx under mlx.launch: 'tensor' splits the model across the ranks "
                                            "(mlx-lm sharded_load) instead of splitting the requests.")
@click.option("--config", "config_file", default=None,
              help="TOML file with the same keys as these options, or the name of one shipped in "
                   "mlxclin/configs/eval (e.g. eurorad-finetuned-beams); flags on the command line win.")
@click.option("--overwrite", is_flag=True, default=None, help="Discard the results already in --out and start over.")
@click.option("--quiet", is_flag=True, default=None, help="No progress bars.")
def command(**opts):
    """Evaluate a model on a clinical task: samples.jsonl, metrics.json, perf.json; resumable."""
    from mlxclin.evaluation.run import evaluate
    from mlxclin.evaluation.spec import EvalSpec
    from mlxclin.models.families import settings_label

    spec = EvalSpec.from_sources(opts.pop("config_file"), **opts)
    result = evaluate(spec, echo=lambda line: click.echo(line, err=True))
    if result.new_samples == 0 and result.resumed:
        click.echo(f"{result.run_dir} is complete: nothing left to run; metrics recomputed from its samples")
    for effort, m in result.metrics.items():
        if len(result.metrics) > 1:
            click.echo(f"--- effort {effort}")
        _print_summary(m, settings_label((result.config.get("model_family") or {}).get(effort)))
    if spec.backend != "replay":
        click.echo(summary_table(result.metrics, result.perf))
    if result.config.get("temperature") is not None:   # null: beam search or replay, which do not sample
        from mlxclin.decoding.sampling import SAMPLING_FIELDS, sampling_line

        click.echo(sampling_line({k: result.config[k] for k in SAMPLING_FIELDS}, result.config["sampling_sources"]))
    click.echo(f"wrote {result.run_dir / 'samples.jsonl'}, metrics.json and perf.json")
