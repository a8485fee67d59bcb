"""mlxclin: run, adapt and measure open-weight LLMs for clinical decision support on Apple Silicon."""

__version__ = "0.1.0"
