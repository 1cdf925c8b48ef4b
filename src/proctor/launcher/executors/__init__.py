"""Executors by ``execution.type``: the registry (see ``base`` for what one must do).

Each known executor is named with the class that implements it, imported on first use,
so `inv status` does not import what another executor needs.
"""

from __future__ import annotations

import importlib

from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Executor

KNOWN: dict[str, str] = {
    "local": "proctor.launcher.executors.local:LocalExecutor",
    "slurm": "proctor.launcher.executors.slurm:SlurmExecutor",
}


def names() -> list[str]:
    return sorted(KNOWN)


def executor_class(name: str) -> type[Executor]:
    """The class registered for ``execution.type: name``; ProctorError naming the known ones."""
    try:
        module, _, attr = KNOWN[name].partition(":")
    except KeyError:
        raise ProctorError(
            f"unknown execution.type {name!r} (known: {', '.join(names())})"
        ) from None
    cls: type[Executor] = getattr(importlib.import_module(module), attr)
    return cls


class Pool:
    """One executor of each type, made on first use, so one command connects to each
    service (the Docker daemon) once however many times it looks."""

    def __init__(self, *made: Executor) -> None:
        self._made: dict[str, Executor] = {e.name: e for e in made}

    def get(self, name: str) -> Executor:
        if name not in self._made:
            self._made[name] = executor_class(name)()
        return self._made[name]
