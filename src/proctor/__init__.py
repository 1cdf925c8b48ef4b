"""proctor: evaluate OpenAI-compatible endpoints, one Docker container per task."""

__version__ = "0.1.0"
