"""samples.jsonl as reports read it: leniently, one record per (sample id, repeat).

The harness's journal (proctor.harness.journal) owns the format. A report may read it
while a task still runs or after a crash, so a torn or unreadable line is skipped, and
when a key appears twice the later line wins (as it does when the harness resumes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

FILENAME = "samples.jsonl"

Key = tuple[str, int]
T = TypeVar("T")


def lines(path: Path) -> Iterator[tuple[Key, dict[str, Any]]]:
    """Every readable line of a journal with its (id, repeat), streaming; none if missing."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    key = (str(record["id"]), int(record.get("repeat") or 0))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue
                yield key, record
    except OSError:
        return


def read(path: Path, keep: Callable[[dict[str, Any]], T]) -> dict[Key, T]:
    """``keep(line)`` of every sample by (id, repeat), in order; a key's last line wins.

    ``keep`` takes what the caller needs from a line, so a journal of 100,000 long
    responses is never held in memory whole.
    """
    found: dict[Key, T] = {}
    for key, record in lines(path):
        found[key] = keep(record)
    return found


def scores(record: dict[str, Any]) -> dict[str, float]:
    """The numeric scores of a scored line; {} for an error line."""
    if record.get("status") != "scored":
        return {}
    raw = record.get("scores") or {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(name): float(value)
        for name, value in raw.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def prompt_text(prompt: Any) -> str:
    """A chat prompt (list of messages) or a completion prompt (string) as plain text."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        parts = []
        for message in prompt:
            if isinstance(message, dict):
                parts.append(f"[{message.get('role', '?')}]\n{message.get('content', '')}")
            else:
                parts.append(str(message))
        return "\n\n".join(parts)
    return "" if prompt is None else json_text(prompt)


def json_text(value: Any) -> str:
    """A non-string value (a number, a list of answers) as compact, readable JSON."""
    return json.dumps(value, ensure_ascii=False, default=str)
