"""samples.jsonl as reports read it: leniently, one record per (sample id, repeat).

The harness's journal (proctor.harness.journal) owns the format. A report may read it
while a task still runs or after a crash, so a torn or unreadable line is skipped, and
when a key appears twice the later line wins (as it does when the harness resumes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILENAME = "samples.jsonl"

Key = tuple[str, int]


def read(path: Path) -> dict[Key, dict[str, Any]]:
    """Every readable line of a journal by (id, repeat), in file order; {} if it is missing."""
    found: dict[Key, dict[str, Any]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    key = (str(record["id"]), int(record.get("repeat") or 0))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue
                found.pop(key, None)  # a retried sample moves to where it finished
                found[key] = record
    except OSError:
        pass
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
