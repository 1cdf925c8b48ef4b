"""`inv logs`: what the scripts and containers of some jobs printed, each line tagged.

Each job's logs/stdout.log holds its run.sh's lines and its container's output (run.sh
sends both there). Without --follow every log is printed whole, job after job. With
--follow the logs are printed as they grow, interleaved by arrival, until every selected
job has ended.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from proctor.harness.untrusted import printable
from proctor.launcher import executors
from proctor.launcher.jobs import status
from proctor.launcher.jobs.invocations import JobRef, Selection

POLL_S = 0.25
STATUS_EVERY_S = 1.0
CHUNK = 1 << 16


@dataclass
class Source:
    """One log file being read: where it is, the tag of its lines, how far it was read."""

    label: str
    path: Path
    job: JobRef | None = None  # None for the deployment's log
    offset: int = 0
    partial: bytes = field(default=b"", repr=False)

    def read_lines(self, final: bool = False) -> list[str]:
        """The complete lines added since the last call (with ``final``, the rest too)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            data = b""  # not written yet
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in lines]


def sources(selection: Selection, tasks: list[str] | None = None) -> list[Source]:
    """The logs of the selected jobs (and of the deployment, for a whole invocation)."""
    inv = selection.invocation
    jobs = list(selection.jobs)
    if tasks:
        jobs = [inv.job(task=t) for t in dict.fromkeys(tasks)]
    out = [Source(job.task, job.logs / "stdout.log", job) for job in jobs]
    if selection.whole and not tasks and inv.deployment:
        out.insert(0, Source("deployment", inv.folder / "deployment" / "logs" / "deploy.log"))
    return out


def show(
    selection: Selection,
    tasks: list[str] | None = None,
    *,
    follow: bool = False,
    out: TextIO | None = None,
    snapshot: Callable[..., status.Snapshot] = status.snapshot,
    poll_s: float = POLL_S,
) -> None:
    """Print the logs; with ``follow``, keep printing until every selected job has ended."""
    out = out or sys.stdout
    srcs = sources(selection, tasks)
    width = max((len(s.label) for s in srcs), default=0)

    def emit(src: Source, final: bool = False) -> None:
        for line in src.read_lines(final):
            # A container prints what it likes: ESC sequences must not reach the terminal.
            out.write(f"{src.label:<{width}} | {printable(line, lines=False)}\n")

    if not follow:
        for src in srcs:
            emit(src, final=True)
        out.flush()
        return
    inv = selection.invocation
    jobs = [s.job for s in srcs if s.job is not None]
    # One pool for every look: the executor connects to its service once. Without it (the
    # Docker daemon is down) the markers and the scripts still tell when jobs end.
    pool = executors.Pool()
    checked = 0.0
    while True:
        for src in srcs:
            emit(src)
        out.flush()
        if time.monotonic() - checked >= STATUS_EVERY_S:
            checked = time.monotonic()
            snap = snapshot([inv], jobs=jobs, pool=pool)
            if all(row.settled for row in snap.of(inv)):
                break
        time.sleep(poll_s)
    # A script writes its last line just after its exit marker: give it a moment.
    time.sleep(poll_s)
    for src in srcs:
        emit(src, final=True)
    out.flush()
