"""mlxclin: run, adapt and measure open-weight LLMs for clinical decision support on Apple Silicon.

    from mlxclin import EvalSpec, evaluate
    result = evaluate(EvalSpec(task="eurorad", model="models/gpt-oss-20b", runs=3, batch_size=8))
"""

__version__ = "0.1.0"
__all__ = ["EvalResult", "EvalSpec", "evaluate", "__version__"]


def __getattr__(name):  # lazy: `mlxclin --help` must not import mlx, scipy or the tasks
    if name in ("EvalResult", "EvalSpec", "evaluate"):
        import mlxclin.evaluation as evaluation

        return getattr(evaluation, name)
    raise AttributeError(name)
