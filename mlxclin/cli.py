"""The `mlxclin` command line: a Click group whose commands are imported only when invoked.

Each command lives in `mlxclin/commands/<name>.py` and exposes a Click command named `command`.
Importing mlx, mlx-lm or torch at module level there is fine: `mlxclin --help` never imports them.
"""

import importlib
import sys

import click

from mlxclin import __version__

# name -> (module under mlxclin.commands, one-line help shown by `mlxclin --help`)
COMMANDS = {
    "demo": ("demo", "Toy gpt-oss -> convert -> generate -> eval on every task -> report, in minutes on a CPU."),
    "toy-model": ("toy_model", "Write a tiny random gpt-oss checkpoint in the real Hugging Face layout."),
    "convert": ("convert", "Convert a Hugging Face gpt-oss checkpoint to MLX with a quantization recipe."),
    "doctor": ("doctor", "Report the machine, MLX, the Harmony vocabulary and which models fit."),
    "generate": ("generate", "Generate one reply (reasoning and answer apart) with speed and memory."),
    "eval": ("eval", "Evaluate a model (or replay stored predictions) on a clinical task; write metrics.json."),
    "finetune": ("finetune", "LoRA fine-tuning (prepare, train, leakage, fuse) of gpt-oss on clinical cases."),
    "traces": ("traces", "Generate reasoning traces for training cases with a teacher model."),
    "report": ("report", "Tables, plots and an offline HTML report from run directories, with published baselines."),
    "compare": ("compare", "Paired comparison of two runs of the same task (McNemar / Wilcoxon, Holm)."),
    "reproduce": ("reproduce", "The paper's tables from the released predictions, diffed cell by cell against it."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"mlxclin.commands.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlxclin")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """mlxclin: clinical LLM benchmarking and adaptation on Apple Silicon with MLX."""
    ctx.obj = {"debug": debug}


def main(argv=None):
    """Entry point: one-line errors with a non-zero exit unless --debug is given."""
    from mlxclin.errors import MlxclinError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="mlxclin", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:   # bad flag values and usage: the same one line as every other error
        click.echo(f"mlxclin: error: {_one_line(e.format_message())}{_usage_hint(e)}", err=True)
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("mlxclin: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("mlxclin: interrupted", err=True)
        return 130
    except MlxclinError as e:
        if debug:
            raise
        click.echo(f"mlxclin: error: {_one_line(e)}", err=True)
        return e.exit_code
    except Exception as e:  # an unexpected failure still gets one line; --debug shows where
        if debug:
            raise
        click.echo(f"mlxclin: error: {type(e).__name__}: {_one_line(e)} (rerun with --debug for details)", err=True)
        return 1
    return 0


def _one_line(e) -> str:
    text = " ".join(str(e).split())
    return text[:500] or type(e).__name__


def _usage_hint(e: click.ClickException) -> str:
    """' (see mlxclin eval --help)' for a usage error inside a command, so the one line says where to look."""
    ctx = getattr(e, "ctx", None)
    if not isinstance(e, click.UsageError) or ctx is None:
        return ""
    return f" (see {ctx.command_path} --help)"


def run():
    sys.exit(main())


if __name__ == "__main__":
    run()
