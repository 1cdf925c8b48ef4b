"""samples.jsonl as reports read it: leniently, one record per (sample id, repeat).

The harness owns the format: each line is read as proctor.harness.exchange.JournalLine,
the model the journal writes. A report may read it while a task still runs or after a
crash, so a torn or unreadable line is skipped, and when a key appears twice the later
line wins (as it does when the harness resumes). A line that is not of the journal's
shape (NaN or Infinity, wrong types, JSON nested too deeply) is skipped too, and counted
for the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from proctor.harness.exchange import JournalLine

FILENAME = "samples.jsonl"

Key = tuple[str, int]
T = TypeVar("T")


def lines(path: Path, skipped: list[int] | None = None) -> Iterator[tuple[Key, JournalLine]]:
    """Every readable line of a journal with its (id, repeat), streaming; none if missing.

    ``skipped`` collects the numbers of the non-blank lines that were not journal lines.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                record = JournalLine.parse(line)
                if record is None:
                    if skipped is not None and line.strip():
                        skipped.append(number)
                    continue
                yield record.key, record
    except OSError:
        return


def read(
    path: Path, keep: Callable[[JournalLine], T], skipped: list[int] | None = None
) -> dict[Key, T]:
    """``keep(line)`` of every sample by (id, repeat), in order; a key's last line wins.

    ``keep`` takes what the caller needs from a line, so a journal of 100,000 long
    responses is never held in memory whole.
    """
    found: dict[Key, T] = {}
    for key, record in lines(path, skipped):
        found[key] = keep(record)
    return found


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
