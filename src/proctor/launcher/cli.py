"""What tasks.py needs from Invoke beyond @task: optional positionals, and help before them.

Invoke requires every positional argument, but ``inv status [ID]`` and ``inv logs [ID]``
take one that may be left out. ``optional_positional("status", "id")`` lets the named
argument be omitted: the task then receives ``""``.

Invoke's parser also gives a task's unfilled positional the next token before it looks
for core flags, so ``inv status --help`` ran ``status`` with the id ``"--help"``. The
wrapped ``handle`` reads ``--help``/``-h`` as help first when the task has no flag of that
name, for every task (``inv kill -h`` too).

The hooks are two methods of Invoke's parser (pinned in pyproject.toml), wrapped once.
"""

from __future__ import annotations

from typing import Any

_OPTIONAL: set[tuple[str, str]] = set()


def optional_positional(task: str, *names: str) -> None:
    """Let the positional ``names`` of ``task`` be omitted (they then arrive as "")."""
    _OPTIONAL.update((task, name) for name in names)
    _install()


def _install() -> None:
    from invoke.parser.parser import ParseMachine

    if getattr(ParseMachine, "_proctor_hooks", False):
        return
    complete = ParseMachine.complete_context
    handle = ParseMachine.handle

    def complete_context(self: Any) -> None:
        context = self.context
        if context is not None:
            asked_help = getattr(self, "_proctor_help", False)  # kill -h needs no id
            for arg in context.positional_args:
                if arg.value is None and (asked_help or (context.name, arg.name) in _OPTIONAL):
                    arg.value = ""
        complete(self)

    def handle_help_first(self: Any, token: str) -> None:
        context, initial = self.context, self.initial
        if (
            self.current_state != "unknown"
            and context is not None
            and context.name  # a task, not the core options
            and token not in context.flags
            and not self.waiting_for_flag_value
            and initial is not None
            and token in initial.flags
            and initial.flags[token].name == "help"
        ):
            initial.flags[token].value = context.name  # what Invoke does for `TASK --help`
            self._proctor_help = True
            return
        handle(self, token)

    ParseMachine.complete_context = complete_context  # type: ignore[method-assign]
    ParseMachine.handle = handle_help_first  # type: ignore[method-assign]
    ParseMachine._proctor_hooks = True  # type: ignore[attr-defined]
