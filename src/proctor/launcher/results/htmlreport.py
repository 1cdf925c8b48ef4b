"""report.html: one self-contained page per invocation (or per set of invocations).

Bar charts of every metric with their 95% CI (inline SVG drawn here, one bar per
invocation within each task), a latency and token summary, and a per-task sample
browser (prompt, response, extracted answer, score, error) with filters for wrong and
errored samples. Everything is in the one file: no script, style or font is fetched,
and the page's Content-Security-Policy forbids it, so it opens from disk offline.

run_all.sh writes ``<invocation>/report.html`` when its tasks end by running
``python -m proctor.launcher.results.htmlreport <invocation folder>``; `inv report --html`
writes it again on demand.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import proctor
from proctor.harness.atomicfile import write_atomic
from proctor.harness.exchange import JournalLine
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs.views import duration
from proctor.launcher.results import samples
from proctor.launcher.results.report import (
    InvocationReport,
    TaskReport,
    collect,
    metric_names,
    table,
    task_names,
)

FILENAME = "report.html"
TEMPLATE = "report.html.j2"
MAX_TEXT = 4000  # characters kept of each prompt, response, reasoning and error
MAX_SAMPLES = 5000  # samples per task embedded in the page
# Paul Tol's colour-blind safe "bright" scheme, one colour per invocation.
COLOURS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")

# Chart geometry, in SVG pixels.
PLOT_HEIGHT = 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 48, 16, 24
BAR_WIDTH, GROUP_GAP = 30, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    centre: float
    err_top: float | None  # CI, in pixels; None when results.json gave no CI
    err_bottom: float | None
    value: str
    label_y: float
    title: str


@dataclass(frozen=True)
class Chart:
    metric: str
    width: float
    height: float
    left: float
    right: float
    baseline: float
    ticks: list[tuple[float, str]]
    groups: list[tuple[float, str]]  # x centre and task name
    rotate: bool  # task names slanted when they would not fit level
    bars: list[Bar]
    absent: list[tuple[float, float, str]]  # x, y, text where an invocation has no value


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _nice_step(span: float) -> float:
    """A tick step of 1, 2, 2.5 or 5 times a power of ten, giving about four ticks."""
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _axis(reports: Sequence[InvocationReport], metric: str) -> list[float]:
    """The tick values of a chart: 0 to 1 for proportions, else what the values and CIs need."""
    seen = [
        v
        for r in reports
        for t in r.tasks
        if metric in t.metrics
        for v in (t.metrics[metric].value, t.metrics[metric].ci_low, t.metrics[metric].ci_high)
        if v is not None
    ]
    low, high = min([0.0, *seen]), max([0.0, *seen])
    if low >= 0 and high <= 1:
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    step = _nice_step(high - low if high > low else 1.0)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [i * step for i in range(first, last + 1)]


def _has(report: InvocationReport, task: str, metric: str) -> bool:
    t = report.task(task)
    return t is not None and metric in t.metrics


def chart(reports: Sequence[InvocationReport], metric: str, tasks: list[str]) -> Chart:
    """One metric across tasks: a group of bars per task, one bar per invocation."""
    tasks = [name for name in tasks if any(_has(r, name, metric) for r in reports)]
    axis = _axis(reports, metric)
    low, high = axis[0], axis[-1]
    group_width = len(reports) * BAR_WIDTH + GROUP_GAP
    longest = max((len(t) for t in tasks), default=0)
    rotate = longest * 7 > group_width
    bottom_margin = 24 + (int(longest * 5) if rotate else 0)
    width = MARGIN_LEFT + max(len(tasks), 1) * group_width + MARGIN_RIGHT
    baseline_y = MARGIN_TOP + PLOT_HEIGHT

    def y(value: float) -> float:
        return MARGIN_TOP + (high - value) / (high - low) * PLOT_HEIGHT

    ticks = [(y(v), f"{v:.4g}") for v in axis]
    groups, bars, absent = [], [], []
    for g, task in enumerate(tasks):
        x0 = MARGIN_LEFT + g * group_width + GROUP_GAP / 2
        groups.append((x0 + len(reports) * BAR_WIDTH / 2, task))
        for i, r in enumerate(reports):
            x = x0 + i * BAR_WIDTH
            t = r.task(task)
            m = t.metrics.get(metric) if t else None
            if m is None:
                absent.append((x + BAR_WIDTH / 2, y(max(low, 0.0)) - 4, "n/a"))
                continue
            zero = y(max(low, 0.0))
            top, bottom = sorted((y(m.value), zero))
            has_ci = m.ci_low is not None and m.ci_high is not None
            err_top = y(m.ci_high) if has_ci and m.ci_high is not None else None
            err_bottom = y(m.ci_low) if has_ci and m.ci_low is not None else None
            n = f", n={m.n}" if m.n is not None else ""
            bars.append(
                Bar(
                    x=x + 2,
                    y=top,
                    width=BAR_WIDTH - 4,
                    height=max(bottom - top, 0.5),
                    colour=COLOURS[i % len(COLOURS)],
                    centre=x + BAR_WIDTH / 2,
                    err_top=err_top,
                    err_bottom=err_bottom,
                    value=f"{m.value:.2f}",
                    label_y=min(top, err_top if err_top is not None else top) - 4,
                    title=f"{task}, {r.label}: {m.cell()}{n}",
                )
            )
    return Chart(
        metric=metric,
        width=width,
        height=baseline_y + bottom_margin,
        left=MARGIN_LEFT,
        right=width - MARGIN_RIGHT,
        baseline=y(max(low, 0.0)),
        ticks=ticks,
        groups=groups,
        rotate=rotate,
        bars=bars,
        absent=absent,
    )


def _cut(text: Any) -> str:
    if text is None:
        return ""
    text = text if isinstance(text, str) else samples.json_text(text)
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}\n... [cut: {len(text) - MAX_TEXT:,} more characters]"


def kind(record: JournalLine) -> str:
    """``error``, ``wrong`` (scored, some score below 1) or ``right``."""
    if not record.scored:
        return "error"
    return "wrong" if any(v < 1 for v in record.numbers().values()) else "right"


def judgement_text(judgement: Any) -> str | None:
    """A judged sample's verdicts as the judge wrote them: one block per judge request."""
    if not isinstance(judgement, dict):
        return None
    replies = judgement.get("replies")
    if not isinstance(replies, list):
        return None
    head = f"judge {judgement.get('model_id', '?')}"
    parsed = judgement.get("verdicts")
    if isinstance(parsed, list) and parsed:
        head += ", verdicts: " + ", ".join(str(v) for v in parsed)
    parts = [
        f"[{i + 1}/{len(replies)}]\n{r if r is not None else '(no reply: request failed)'}"
        for i, r in enumerate(replies)
    ]
    return "\n\n".join([head, *parts])


def sample_row(key: samples.Key, record: JournalLine) -> dict[str, Any]:
    """One journal line as the page embeds it: texts cut to MAX_TEXT."""
    return {
        "id": key[0],
        "repeat": key[1],
        "kind": kind(record),
        "scores": record.numbers(),
        "target": _cut(record.target),
        "extracted": _cut(record.extracted),
        "prompt": _cut(samples.prompt_text(record.prompt)),
        "response": _cut(record.response),
        "reasoning": _cut(record.reasoning),
        "error": _cut(record.error),
        "judgement": _cut(judgement_text(record.judgement)),
        "finish": record.finish_reason or "",
        "tokens": record.usage.completion_tokens if record.usage else None,
        "latency": record.latency_s,
    }


def sample_rows(path: Path, skipped: list[int] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The first MAX_SAMPLES samples of a journal as embedded rows, and how many it has."""
    rows: dict[samples.Key, dict[str, Any]] = {}
    seen: set[samples.Key] = set()
    for key, record in samples.lines(path, skipped):
        seen.add(key)
        if key in rows or len(rows) < MAX_SAMPLES:
            rows[key] = sample_row(key, record)  # a retried sample's last line wins
    return list(rows.values()), len(seen)


def _usage_row(r: InvocationReport, t: TaskReport) -> dict[str, str]:
    def number(value: int | None) -> str:
        return f"{value:,}" if value is not None else "-"

    def seconds(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else "-"

    return {
        "invocation": r.label,
        "task": t.task,
        "scored": number(t.count("scored")),
        "errors": number(t.count("errors")),
        "prompt": number(t.tokens("prompt_tokens")),
        "completion": number(t.tokens("completion_tokens")),
        "total": number(t.tokens()),
        "p50": seconds(t.latency("p50")),
        "p90": seconds(t.latency("p90")),
        "p99": seconds(t.latency("p99")),
        "wall": duration(t.wall_s) if t.wall_s is not None else "-",
    }


def context(reports: Sequence[InvocationReport]) -> dict[str, Any]:
    """Everything the template shows, already computed and formatted."""
    tasks = task_names(reports)
    metrics = list(dict.fromkeys(m for r in reports for t in r.tasks for m in t.metrics))
    summary = []
    for task in tasks:
        for metric in metric_names(reports, task) or ["-"]:
            cells = []
            for r in reports:
                t = r.task(task)
                m = t.metrics.get(metric) if t else None
                cells.append(
                    None
                    if m is None or t is None
                    else {
                        "value": _fmt(m.value),
                        "ci": m.ci(),
                        "n": "" if m.n is None else str(m.n),
                        "errors": t.count("errors") or 0,
                    }
                )
            summary.append({"task": task, "metric": metric, "cells": cells})
    browsers: list[dict[str, Any]] = []
    notes = [f"{r.label} / {t.task}: {t.note()}" for r in reports for t in r.tasks if t.note()]
    for i, r in enumerate(reports):
        for t in r.tasks:
            skipped: list[int] = []
            rows, total = sample_rows(t.job.artifacts / samples.FILENAME, skipped)
            if skipped:
                notes.append(
                    f"{r.label} / {t.task}: {len(skipped)} unreadable journal lines skipped "
                    f"(first: line {skipped[0]})"
                )
            browsers.append(
                {
                    "key": f"s{i}-{len(browsers)}",
                    "invocation": r.label,
                    "task": t.task,
                    "rows": rows,
                    "total": total,
                    "wrong": sum(1 for x in rows if x["kind"] == "wrong"),
                    "errors": sum(1 for x in rows if x["kind"] == "error"),
                    "journal": str(t.job.artifacts / samples.FILENAME),
                }
            )
    return {
        "title": "proctor report: " + ", ".join(r.label for r in reports),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": proctor.__version__,
        "invocations": [
            {
                "label": r.label,
                "id": r.id,
                "model": r.model_id or "unknown model",
                "created": f"{r.created:%Y-%m-%d %H:%M:%S} UTC",
                "folder": str(r.folder),
                "colour": COLOURS[i % len(COLOURS)],
            }
            for i, r in enumerate(reports)
        ],
        "summary": summary,
        "charts": [chart(reports, metric, tasks) for metric in metrics],
        "usage": [_usage_row(r, t) for r in reports for t in r.tasks],
        "browsers": browsers,
        "notes": notes,
        "max_text": MAX_TEXT,
        "max_samples": MAX_SAMPLES,
        "several": len(reports) > 1,
    }


def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from proctor.launcher import TEMPLATES

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # JSON.parse refuses NaN and Infinity, which json.dumps writes by default: one such
    # number anywhere would leave every sample browser of the page empty.
    env.policies["json.dumps_function"] = _finite_dumps
    return env.get_template(TEMPLATE)


def render(reports: Sequence[InvocationReport], template: Any = None) -> str:
    """The report page for one or more invocations (``template``: one already compiled)."""
    return (template or _template()).render(**context(reports))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _finite_dumps(value: Any, **kwargs: Any) -> str:
    try:  # the common case, no NaN anywhere: one pass, not a copy of every sample first
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, **kwargs)


def write(reports: Sequence[InvocationReport], path: Path, template: Any = None) -> Path:
    """Write the page atomically (a reader never sees half of it); ProctorError if it cannot."""
    try:
        write_atomic(path, render(reports, template))
    except OSError as e:
        raise ProctorError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def default_path(outputs: Path, reports: Sequence[InvocationReport]) -> Path:
    """Beside the results for one invocation; in the outputs folder for several."""
    if len(reports) == 1:
        return reports[0].folder / FILENAME
    return outputs / f"report-{'-'.join(r.id for r in reports)}.html"


def _get_ready(folder: Path, template: Any) -> None:
    """Render the page of ``folder`` as it is now and throw it away, so that what writing
    it needs (imports, pydantic's deferred models, the journal line's among them, which an
    empty journal would not build) is ready before go; the real writing then costs only
    itself. Best effort, whatever goes wrong: a folder that cannot be read or rendered yet
    is read again after go, and a failure there is reported as usual."""
    JournalLine.model_rebuild()
    try:
        from proctor.launcher.jobs import invocations

        render([collect(invocations.load(folder))], template)
    except Exception:  # a rehearsal: it must never cost the real page
        pass


GO = "go"
USAGE = "usage: python -m proctor.launcher.results.htmlreport [--on-go] INVOCATION_FOLDER"


def main(argv: list[str] | None = None) -> int:
    """``python -m proctor.launcher.results.htmlreport FOLDER``: write its report.html and
    print the table.

    With ``--on-go`` it first gets ready (imports, the template compiled) and then waits
    for a line ``go`` on its input: run_all.sh starts it beside the tasks and says go when
    they have ended, so the report costs the run only its writing. Input that ends without
    ``go`` (the driver was killed) writes nothing.
    """
    args = sys.argv[1:] if argv is None else argv
    on_go = args[:1] == ["--on-go"]
    args = args[1:] if on_go else args
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    from tabulate import tabulate  # noqa: F401  (imported now, while waiting for go)

    from proctor.launcher.jobs import invocations

    try:
        template = _template()
        if on_go:
            _get_ready(Path(args[0]), template)
            if sys.stdin.readline().strip() != GO:
                return 0
        report = collect(invocations.load(Path(args[0])))
        path = write([report], report.folder / FILENAME, template)
    except ProctorError as e:
        print(f"proctor: report not written: {e}", file=sys.stderr)
        return 1
    print(table([report]))
    print(f"\nreport: {path}")
    return 0


if __name__ == "__main__":
    from proctor.harness.quickexit import exit_now

    exit_now(main())
