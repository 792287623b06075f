"""prcast: a command-line press office."""

__version__ = "0.1.0"
