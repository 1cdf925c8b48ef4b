"""The one error type the harness turns into a clean exit: bad input, said in one line."""

from __future__ import annotations


class InputError(Exception):
    """The task cannot start as given (task file, benchmark, journal, API key): exit 2.

    The message is one line that names what is wrong and, where it helps, what to do.
    """
