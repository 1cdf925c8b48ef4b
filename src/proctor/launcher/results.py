"""The results of an invocation as a table: one row per (task, metric)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate


def load(task_dir: Path) -> dict[str, Any] | None:
    """A task's results.json, or None while it is missing or being replaced."""
    try:
        data = json.loads((task_dir / "artifacts" / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def rows(folder: Path, tasks: list[str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for task in tasks:
        results = load(folder / task)
        if results is None:
            out.append([task, "-", "no results", "", "", "", "", ""])
            continue
        counts = results.get("counts", {})
        usage = results.get("usage", {})
        wall = results.get("timing", {}).get("wall_s")
        metrics = results.get("metrics") or {"-": {}}
        for name, m in metrics.items():
            ci = (
                f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                if m.get("ci_low") is not None and m.get("ci_high") is not None
                else ""
            )
            value = f"{m['value']:.3f}" if isinstance(m.get("value"), int | float) else "-"
            out.append(
                [
                    task,
                    name,
                    value,
                    ci,
                    m.get("n", ""),
                    counts.get("errors", ""),
                    usage.get("total_tokens", ""),
                    f"{wall:.0f} s" if isinstance(wall, int | float) else "",
                ]
            )
    return out


def table(folder: Path, tasks: list[str]) -> str:
    headers = ["task", "metric", "value", "95% CI", "n", "errors", "tokens", "time"]
    return tabulate(rows(folder, tasks), headers=headers, disable_numparse=True)
