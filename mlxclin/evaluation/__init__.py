"""Evaluation as a library: `EvalSpec` (validated settings) and `evaluate(spec)` (run, resume or re-report).

Modules: spec (settings) -> setup (task, data, config, backend) -> run (`evaluate`) -> engine (the request stream)
-> scoring (requests, samples, metrics) -> rundir (files) and perf (speed and memory aggregates).
"""

__all__ = ["EvalResult", "EvalSpec", "evaluate"]


def __getattr__(name):  # lazy, so importing one module of this package stays light
    if name == "EvalSpec":
        from mlxclin.evaluation.spec import EvalSpec

        return EvalSpec
    if name in ("EvalResult", "evaluate"):
        from mlxclin.evaluation import run

        return getattr(run, name)
    raise AttributeError(name)
