"""`inv report`: the results of one or more invocations as a table, JSON, CSV or Markdown.

``collect`` reads each task's results.json (metrics with their 95% CI, counts, usage,
latency, timing) and, for a task without results, its state from the stage markers.
The formatters only print what was collected. With several invocations the table puts
them side by side, one column each, matched by task folder name.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from proctor.harness.exchange import ResultsFile
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import status as status_mod
from proctor.launcher.jobs.invocations import Invocation, JobRef
from proctor.launcher.jobs.views import duration

Format = Literal["table", "json", "csv", "markdown"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv", "markdown")
SCHEMA_VERSION = 1  # of the JSON output


@dataclass(frozen=True)
class Metric:
    value: float
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None

    def cell(self) -> str:
        """``0.400 [0.118, 0.769]``: the value and its 95% CI."""
        return f"{self.value:.3f}" + (f" {self.ci()}" if self.ci() else "")

    def ci(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return ""
        return f"[{self.ci_low:.3f}, {self.ci_high:.3f}]"


@dataclass(frozen=True)
class TaskReport:
    """One job of an invocation: its results, or why there are none yet."""

    job: JobRef
    benchmark: str
    model_id: str
    state: str  # as `inv status` derives it
    reason: str
    results: ResultsFile | None  # results.json, read through its model
    metrics: dict[str, Metric]
    unreadable: bool = False  # results.json exists but is not one (NaN, Infinity, torn, ...)
    skipped_metrics: int = 0  # metrics whose value is not a finite number

    @property
    def task(self) -> str:
        return self.job.task

    @property
    def status(self) -> str:
        """results.json's status (ok, error_rate_exceeded), or "" without results."""
        return self.results.status if self.results else ""

    def count(self, name: str) -> int | None:
        return _int(getattr(self.results.counts, name, None)) if self.results else None

    def tokens(self, name: str = "total_tokens") -> int | None:
        return _int(self.results.usage.get(name)) if self.results else None

    def latency(self, q: str) -> float | None:
        return _float(self.results.latency_s.get(q)) if self.results else None

    @property
    def wall_s(self) -> float | None:
        return _float(self.results.timing.get("wall_s")) if self.results else None

    def note(self) -> str:
        """What a reader must know beyond the numbers, or ""."""
        if self.results is None and self.unreadable:
            return "results.json skipped: not a well-formed results file (non-finite numbers, a field missing?)"
        if self.results is None:
            why = f": {self.reason}" if self.reason else ""
            return f"no results ({self.state}{why})"
        if self.skipped_metrics:
            return f"{self.skipped_metrics} metric(s) skipped in results.json: not finite numbers"
        if self.status not in ("", "ok"):
            errors, total = self.count("errors"), self.count("total")
            return f"{self.status}: {errors} of {total} samples failed"
        if self.state not in ("SUCCEEDED", "PENDING"):
            return f"job {self.state}" + (f": {self.reason}" if self.reason else "")
        return ""


@dataclass(frozen=True)
class InvocationReport:
    id: str
    folder: Path
    created: datetime
    model_id: str
    tasks: tuple[TaskReport, ...]

    @property
    def label(self) -> str:
        """How a column or a legend names this invocation: ``model (id)``."""
        return f"{self.model_id} ({self.id})" if self.model_id else self.id

    def task(self, name: str) -> TaskReport | None:
        return next((t for t in self.tasks if t.task == name), None)


def section(value: Any) -> dict[str, Any]:
    """A JSON or YAML object read from disk, or {} when it is missing or not an object."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def read_results(path: Path) -> tuple[ResultsFile | None, int]:
    """results.json through its model, and how many of its metrics were not well-formed;
    None while it is missing, half-written or not a results file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None, 0
    return ResultsFile.parse_skipping_metrics(text)


def read_task_spec(job: JobRef) -> dict[str, Any]:
    """The job's task.yaml as a plain dict ({} if unreadable): what was asked of the harness."""
    try:
        data = yaml.safe_load((job.folder / "task.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _metrics(results: ResultsFile | None) -> dict[str, Metric]:
    return {
        str(name): Metric(
            value=float(m.value),
            stderr=_float(m.stderr),
            ci_low=_float(m.ci_low),
            ci_high=_float(m.ci_high),
            n=m.n,
        )
        for name, m in (results.metrics if results else {}).items()
    }


def collect(invocation: Invocation) -> InvocationReport:
    """Read every job's results (and, for jobs without them, their state) from disk."""
    snap = status_mod.snapshot([invocation], quick=True)
    states = {row.job.id: row.status for row in snap.of(invocation)}
    tasks = []
    for job in invocation.jobs:
        path = job.artifacts / "results.json"
        results, skipped = read_results(path)
        spec = read_task_spec(job)
        endpoint = section(spec.get("endpoint"))
        st = states.get(job.id)
        tasks.append(
            TaskReport(
                job=job,
                benchmark=str((results and results.benchmark) or spec.get("benchmark") or ""),
                model_id=str((results and results.model_id) or endpoint.get("model_id") or ""),
                state=st.state if st else "PENDING",
                reason=st.reason if st else "",
                results=results,
                metrics=_metrics(results),
                unreadable=results is None and path.is_file(),
                skipped_metrics=skipped if results else 0,
            )
        )
    model = next((t.model_id for t in tasks if t.model_id), "")
    return InvocationReport(
        invocation.id, invocation.folder, invocation.created, model, tuple(tasks)
    )


def load(outputs: Path, ids: Sequence[str]) -> list[InvocationReport]:
    """The reports of the invocations ``ids`` name (prefixes; none: the latest), in order."""
    from proctor.launcher.jobs import invocations

    folders: dict[Path, Invocation] = {}
    for ident in ids or [""]:
        inv = invocations.invocation(outputs, ident or None)
        folders.setdefault(inv.folder, inv)
    return [collect(inv) for inv in folders.values()]


# -- formatting ------------------------------------------------------------------------------


def render(reports: Sequence[InvocationReport], fmt: str = "table") -> str:
    """The reports in one of FORMATS; ProctorError naming the choices for any other."""
    if fmt == "table":
        return table(reports)
    if fmt == "markdown":
        return table(reports, markdown=True)
    if fmt == "json":
        return json.dumps(as_dict(reports), indent=2)
    if fmt == "csv":
        return to_csv(reports)
    raise ProctorError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _tokens(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


def _time(value: float | None) -> str:
    return duration(value) if value is not None else ""


def task_names(reports: Sequence[InvocationReport]) -> list[str]:
    """Every task folder name, in the order the invocations first list them."""
    return list(dict.fromkeys(t.task for r in reports for t in r.tasks))


def metric_names(reports: Sequence[InvocationReport], task: str) -> list[str]:
    names: dict[str, None] = {}
    for r in reports:
        t = r.task(task)
        if t is not None:
            names.update(dict.fromkeys(t.metrics))
    return list(names)


SINGLE_HEADERS = ["task", "metric", "value", "95% CI", "n", "errors", "tokens", "time"]


def table(reports: Sequence[InvocationReport], *, markdown: bool = False) -> str:
    """One invocation: a row per (task, metric). Several: one column per invocation."""
    fmt = "github" if markdown else "simple"
    if len(reports) == 1:
        return _single(reports[0], fmt)
    return _side_by_side(reports, fmt)


def _single(r: InvocationReport, fmt: str) -> str:
    from tabulate import tabulate

    rows = []
    for t in r.tasks:
        common = [_tokens(t.tokens()), _time(t.wall_s)]
        errors = "" if t.count("errors") is None else str(t.count("errors"))
        if not t.metrics:
            rows.append([t.task, "-", "-", "", "", errors, *common])
        for name, m in t.metrics.items():
            n = "" if m.n is None else str(m.n)
            rows.append([t.task, name, f"{m.value:.3f}", m.ci(), n, errors, *common])
    head = f"invocation {r.id}: {r.model_id or 'unknown model'}, {r.folder}"
    body = tabulate(rows, headers=SINGLE_HEADERS, tablefmt=fmt, disable_numparse=True)
    return "\n\n".join(filter(None, [head, body, _notes([r])]))


def _cell(t: TaskReport | None, metric: str) -> str:
    """A side-by-side cell: ``0.400 [0.118, 0.769] n=5 err=1``."""
    m = t.metrics.get(metric) if t else None
    if t is None or m is None:
        return "-" if t else "(not run)"
    errors = t.count("errors")
    n = f" n={m.n}" if m.n is not None else ""
    return m.cell() + n + (f" err={errors}" if errors else "")


def _usage_cell(t: TaskReport | None) -> str:
    if t is None:
        return "-"
    tokens = _tokens(t.tokens())
    return ", ".join(filter(None, [f"{tokens} tok" if tokens else "", _time(t.wall_s)])) or "-"


def _side_by_side(reports: Sequence[InvocationReport], fmt: str) -> str:
    from tabulate import tabulate

    labels = [r.label for r in reports]
    rows = []
    usage = []
    for task in task_names(reports):
        for metric in metric_names(reports, task) or ["-"]:
            rows.append([task, metric, *[_cell(r.task(task), metric) for r in reports]])
        usage.append([task, *[_usage_cell(r.task(task)) for r in reports]])
    results = tabulate(
        rows, headers=["task", "metric", *labels], tablefmt=fmt, disable_numparse=True
    )
    usage_table = tabulate(
        usage, headers=["tokens, time", *labels], tablefmt=fmt, disable_numparse=True
    )
    heads = "\n".join(f"{r.label}: {r.folder}" for r in reports)
    return "\n\n".join(filter(None, [heads, results, usage_table, _notes(reports)]))


def _notes(reports: Sequence[InvocationReport]) -> str:
    lines = []
    for r in reports:
        for t in r.tasks:
            note = t.note()
            if note:
                where = f"{r.id}/{t.task}" if len(reports) > 1 else t.task
                lines.append(f"{where}: {note}")
    return "\n".join(lines)


def task_dict(t: TaskReport) -> dict[str, Any]:
    results = t.results
    return {
        "task": t.task,
        "job": t.job.id,
        "benchmark": t.benchmark,
        "model_id": t.model_id,
        "state": t.state,
        "reason": t.reason,
        "status": t.status or None,
        "metrics": {
            name: {
                "value": m.value,
                "stderr": m.stderr,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "n": m.n,
            }
            for name, m in t.metrics.items()
        },
        "counts": results.counts.model_dump() if results else None,
        "usage": results.usage if results else None,
        "latency_s": results.latency_s if results else None,
        "wall_s": t.wall_s,
        "folder": str(t.job.folder),
    }


def as_dict(reports: Sequence[InvocationReport]) -> dict[str, Any]:
    """The JSON form: ``{schema_version, invocations: [{id, model_id, ..., tasks: [...]}]}``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "invocations": [
            {
                "id": r.id,
                "model_id": r.model_id,
                "created": r.created.isoformat(),
                "folder": str(r.folder),
                "tasks": [task_dict(t) for t in r.tasks],
            }
            for r in reports
        ],
    }


CSV_COLUMNS = [
    "invocation",
    "model_id",
    "task",
    "benchmark",
    "state",
    "metric",
    "value",
    "stderr",
    "ci_low",
    "ci_high",
    "n",
    "scored",
    "errors",
    "total",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_p50_s",
    "latency_p90_s",
    "latency_p99_s",
    "wall_s",
]


def to_csv(reports: Sequence[InvocationReport]) -> str:
    """Long format: one row per (invocation, task, metric); a task without metrics keeps a row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        for t in r.tasks:
            common = [
                t.count("scored"),
                t.count("errors"),
                t.count("total"),
                t.tokens("prompt_tokens"),
                t.tokens("completion_tokens"),
                t.tokens(),
                t.latency("p50"),
                t.latency("p90"),
                t.latency("p99"),
                t.wall_s,
            ]
            head = [r.id, t.model_id, t.task, t.benchmark, t.state]
            metrics: list[tuple[str, Metric | None]] = list(t.metrics.items()) or [("", None)]
            for name, m in metrics:
                numbers = [m.value, m.stderr, m.ci_low, m.ci_high, m.n] if m else [None] * 5
                writer.writerow(["" if v is None else v for v in [*head, name, *numbers, *common]])
    return buffer.getvalue().rstrip("\n")
