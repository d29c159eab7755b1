"""The single source of tf_compact's version."""

__version__ = "0.1.0"
