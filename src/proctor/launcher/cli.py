"""What tasks.py needs from Invoke beyond @task: optional positional arguments.

Invoke requires every positional argument, but ``inv status [ID]`` and ``inv logs [ID]``
take one that may be left out. ``optional_positional("status", "id")`` lets the named
argument be omitted: the task then receives ``""``. The hook is one method of Invoke's
parser (pinned in pyproject.toml), wrapped once.
"""

from __future__ import annotations

from typing import Any

_OPTIONAL: set[tuple[str, str]] = set()


def optional_positional(task: str, *names: str) -> None:
    """Let the positional ``names`` of ``task`` be omitted (they then arrive as "")."""
    from invoke.parser.parser import ParseMachine

    _OPTIONAL.update((task, name) for name in names)
    if getattr(ParseMachine, "_proctor_optional", False):
        return
    original = ParseMachine.complete_context

    def complete_context(self: Any) -> None:
        context = self.context
        if context is not None:
            for arg in context.positional_args:
                if arg.value is None and (context.name, arg.name) in _OPTIONAL:
                    arg.value = ""
        original(self)

    ParseMachine.complete_context = complete_context  # type: ignore[method-assign]
    ParseMachine._proctor_optional = True  # type: ignore[attr-defined]
