"""The one exception type the CLI turns into a clean exit."""


class ProctorError(Exception):
    """A user-facing error: one line saying what is wrong and how to fix it."""
