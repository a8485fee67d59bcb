"""`python -m mlxclin`: the CLI, for launchers that run a Python module rather than a console script
(`mlx.launch -n 2 -- python -m mlxclin eval ...`)."""

from mlxclin.cli import run

if __name__ == "__main__":
    run()
