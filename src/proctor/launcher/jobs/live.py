"""What a person watching an invocation sees: `inv run --wait` and `inv status --watch`.

On a terminal, one progress bar per job (done/total, rate, ETA, errors, state) under a bar
for the whole invocation, redrawn in place by rich; the bars are taken away when the watch
ends, so the final status table and report print on a clean screen. Anywhere else (a log,
CI, a pipe) one plain summary line, written when it changes and at most once per look.

The states, counts and rates come from proctor.launcher.jobs.status; nothing here decides
one. How often to look and when to stop is the caller's (`until`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID
from rich.table import Column
from rich.text import Text

from proctor.harness.untrusted import printable
from proctor.launcher import executors
from proctor.launcher.jobs import invocations, status, views
from proctor.launcher.jobs.invocations import Invocation, JobRef
from proctor.launcher.jobs.status import JobRow, Snapshot
from proctor.launcher.jobs.views import duration

LOOK_EVERY_S = 2.0
COUNTS_EVERY_S = 30.0  # not a terminal: how often a line may say only that counts moved
REASON_CHARS = 48

STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "LOST": "bold red",
    "KILLED": "yellow",
    "RUNNING": "cyan",
    "STARTING": "cyan",
}


def _sums(rows: Sequence[JobRow]) -> tuple[int, int, int] | None:
    """Samples done, in all and failed over the jobs that report progress; None if none do."""
    seen = [r.obs.progress for r in rows if r.obs.progress is not None]
    if not seen:
        return None
    return sum(p.done for p in seen), sum(p.total for p in seen), sum(p.failed for p in seen)


def summary(rows: Sequence[JobRow]) -> str:
    """``2 RUNNING, 1 SUCCEEDED; samples 31/60, 1 failed``."""
    states = status.counts_text(rows)
    sums = _sums(rows)
    if sums is None:
        return states
    done, total, failed = sums
    return f"{states}; samples {done}/{total}" + (f", {failed} failed" if failed else "")


class _Field(ProgressColumn):
    """One of a bar's fields (set by ``Board.show``), as plain text: names, reasons and
    counts are never read as markup."""

    def __init__(self, name: str, *, min_width: int | None = None, shrinks: bool = False) -> None:
        # rich narrows wrappable columns first when a row is too wide: only the state does
        super().__init__(Column(no_wrap=not shrinks, min_width=min_width))
        self.name = name

    def render(self, task: Task) -> Text:
        text: Text = task.fields.get(self.name, Text(""))
        return text


def _fields(rows: Sequence[JobRow]) -> dict[str, Any]:
    """The invocation line's fields: every job's progress summed, the states counted."""
    running = [
        r.obs.progress for r in rows if r.status.state == "RUNNING" and r.obs.progress is not None
    ]
    rates = [p.rate_per_s for p in running if p.rate_per_s]
    etas = [p.eta_s for p in running if p.eta_s is not None]
    sums = _sums(rows)
    failed = sums[2] if sums else 0
    return {
        "count": Text(f"{sums[0]}/{sums[1]}" if sums else "-"),
        "rate": Text(f"{sum(rates):.3g}/s" if rates else "-"),
        "eta": Text(f"ETA {duration(max(etas))}" if etas else "ETA -"),
        "errors": Text(f"{failed} errors" if failed else "", style="red"),
        "state": Text(
            status.counts_text(rows) or "no jobs", style="bold", no_wrap=True, overflow="ellipsis"
        ),
    }


def _job_fields(row: JobRow) -> dict[str, Any]:
    p, st = row.obs.progress, row.status
    live = st.state == "RUNNING"
    errors = row.obs.results.errors if row.obs.results is not None else p.failed if p else 0
    state = Text(st.state, style=STYLE.get(st.state, "dim"), no_wrap=True, overflow="ellipsis")
    if row.obs.attempt:
        state.append(f" {row.obs.attempt}")
    if st.reason and st.state != "SUCCEEDED":
        state.append(f" ({printable(st.reason, lines=False)[:REASON_CHARS]})", style="dim")
    elif st.exit_code not in (None, 0):
        state.append(f" (exit {st.exit_code})", style="dim")
    return {
        "count": Text(f"{p.done}/{p.total}" if p else "-"),
        "rate": Text(f"{p.rate_per_s:.3g}/s" if p and p.rate_per_s and live else "-"),
        "eta": Text(f"ETA {duration(p.eta_s)}" if p and live else "ETA -"),
        "errors": Text(f"{errors} errors" if errors else "", style="red"),
        "state": state,
    }


class Board:
    """The bars on a terminal: a line for the invocation, one per job."""

    def __init__(self, invocation: Invocation, out: TextIO) -> None:
        self.console = Console(file=out, highlight=False)
        self.width = max([len(f"{j.id}  {j.task}") for j in invocation.jobs] + [19])
        self.progress = Progress(
            _Field("name", min_width=self.width),
            BarColumn(bar_width=20, table_column=Column(no_wrap=True)),
            _Field("count"),
            _Field("rate"),
            _Field("eta"),
            _Field("errors"),
            _Field("state", shrinks=True),
            console=self.console,
            auto_refresh=False,
            transient=True,
        )
        self.invocation = invocation
        self.whole: TaskID | None = None
        self.bars: dict[str, TaskID] = {}
        self.warning: str | None = None

    def __enter__(self) -> Board:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, rows: Sequence[JobRow], snap: Snapshot) -> None:
        if snap.warning != self.warning and snap.warning:
            self.console.print(Text(f"warning: {snap.warning}", style="yellow"))
        self.warning = snap.warning
        width = self.width
        name = Text(f"invocation {self.invocation.id}".ljust(width), style="bold")
        whole = _fields(rows)
        sums = _sums(rows)
        done, total = (sums[0], sums[1] or None) if sums else (0, None)
        if self.whole is None:
            self.whole = self.progress.add_task("", total=total, name=name)
        self.progress.update(self.whole, total=total, completed=done, name=name, **whole)
        for row in rows:
            p = row.obs.progress
            if p is not None:
                total, done = p.total or None, p.done
            else:  # no progress.json (yet, or a command task): the bar says only whether it ended
                total = 1 if row.status.ended else None
                done = 1 if row.status.state == "SUCCEEDED" else 0
            fields = _job_fields(row)
            label = Text(f"{row.job.id}  {row.job.task}".ljust(width))
            bar = self.bars.get(row.job.id)
            if bar is None:
                bar = self.bars[row.job.id] = self.progress.add_task("", total=total, name=label)
            self.progress.update(bar, total=total, completed=done, name=label, **fields)
        self.progress.refresh()


class Lines:
    """Not a terminal: a timestamped summary line when a job's state (or a warning)
    changes, and when only the counts moved, at most every ``counts_every_s`` (a long run
    fills a CI log with a line per minute, not one per look)."""

    def __init__(self, out: TextIO, *, counts_every_s: float = COUNTS_EVERY_S) -> None:
        self.out = out
        self.counts_every_s = counts_every_s
        self.last = ""
        self.last_states = ""
        self.last_at = -math.inf

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def show(self, rows: Sequence[JobRow], snap: Snapshot) -> None:
        warning = f"  (warning: {snap.warning})" if snap.warning else ""
        states = status.counts_text(rows) + warning
        line = summary(rows) + warning
        now = time.monotonic()
        if line == self.last:
            return
        if states == self.last_states and now - self.last_at < self.counts_every_s:
            return
        self.out.write(f"{datetime.now():%H:%M:%S}  {line}\n")
        self.out.flush()
        self.last, self.last_states, self.last_at = line, states, now


def watch(
    invocation: Invocation,
    *,
    until: Callable[[Snapshot, list[JobRow]], bool],
    pause: Callable[[float], None],
    out: TextIO,
    every_s: float = LOOK_EVERY_S,
    jobs: Iterable[JobRef] | None = None,
    pool: executors.Pool | None = None,
) -> tuple[list[JobRow], Snapshot]:
    """Show ``invocation``'s jobs live until ``until(snapshot, rows)``; returns the last look.

    ``pause(seconds)`` waits between looks (the caller may end it early)."""
    pool = pool or executors.Pool()
    selected = list(jobs) if jobs is not None else None
    view: Board | Lines = Board(invocation, out) if out.isatty() else Lines(out)
    with view:
        while True:
            snap = status.snapshot([invocation], jobs=selected, pool=pool)
            rows = snap.of(invocation)
            if until(snap, rows):
                return rows, snap
            view.show(rows, snap)
            pause(every_s)


def watch_status(
    outputs: Path, ident: str | None, *, every_s: float = LOOK_EVERY_S, out: TextIO = sys.stdout
) -> None:
    """`inv status --watch`: the live view until every selected job has settled, then the
    status table."""
    selection = invocations.resolve(outputs, ident)
    inv = selection.invocation
    rows, snap = watch(
        inv,
        until=lambda snap, rows: all(r.settled for r in rows),
        pause=time.sleep,
        out=out,
        every_s=every_s,
        jobs=selection.jobs,
    )
    out.write(views.status_table(inv, rows, snap) + "\n")
    out.flush()
