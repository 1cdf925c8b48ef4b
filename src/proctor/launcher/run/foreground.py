"""`inv run --wait`: follow a started invocation until its driver exits, then report.

While the driver runs, a live status is shown every few seconds: on a terminal the
`inv status` table redrawn in place, otherwise (a log, CI) one summary line whenever
it changes. Waiting for the driver, not only for the jobs, means the deployment has
been stopped and report.html written when the report table is printed.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from proctor.launcher import executors
from proctor.launcher.jobs import invocations, status, views
from proctor.launcher.results import report

POLL_S = 2.0


def summary(rows: Sequence[status.JobRow]) -> str:
    """``2 RUNNING, 1 SUCCEEDED; samples 31/60, 1 failed``."""
    states = ", ".join(f"{n} {state}" for state, n in status.counts(rows).items())
    seen = [r.obs.progress for r in rows if r.obs.progress is not None]
    if not seen:
        return states
    done = sum(p.done for p in seen)
    total = sum(p.total for p in seen)
    failed = sum(p.failed for p in seen)
    return f"{states}; samples {done}/{total}" + (f", {failed} failed" if failed else "")


def _lines(text: str) -> int:
    """How many terminal rows ``text`` takes, counting long lines that wrap."""
    columns = max(shutil.get_terminal_size().columns, 1)
    return sum(max(1, -(-len(line) // columns)) for line in text.split("\n"))


def _sleep_while_driven(
    executor: executors.Executor, inv: invocations.Invocation, seconds: float
) -> None:
    """Sleep ``seconds``, waking early when nothing drives the invocation any more (asked
    every ``executor.wake_s``), so ``--wait`` returns soon after run_all.sh exits."""
    if executor.wake_s >= seconds:  # asking would cost a look like the redraw's own
        time.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(executor.wake_s, left))
        if not executor.driving(inv):
            return


def follow(folder: Path, *, every_s: float = POLL_S, out: TextIO = sys.stdout) -> bool:
    """Show live status until the invocation's driver exits (the executor says when), then
    the report; True if every job succeeded."""
    inv = invocations.load(folder)
    pool = executors.Pool()
    executor = pool.get(inv.executor)
    tty = out.isatty()
    drawn = 0  # lines of the last redraw, to move back over them
    last = ""
    while True:
        snap = status.snapshot([inv], pool=pool)
        rows = snap.of(inv)
        if inv.id not in snap.drivers:
            break
        if tty:
            text = views.status_table(inv, rows, snap)
            out.write(f"\x1b[{drawn}F\x1b[J" if drawn else "\n")
            out.write(text + "\n")
            drawn = _lines(text)
        else:
            line = summary(rows)
            if line != last:
                out.write(f"{datetime.now():%H:%M:%S}  {line}\n")
                last = line
        out.flush()
        _sleep_while_driven(executor, inv, every_s)
    if tty and drawn:
        out.write(f"\x1b[{drawn}F\x1b[J")
    out.write("\n" + views.status_table(inv, rows, snap) + "\n\n")
    out.write(report.table([report.collect(inv)]) + "\n")
    page = folder / "report.html"
    if page.is_file():
        out.write(f"\nreport: {page}\n")
    out.flush()
    return all(r.status.state == "SUCCEEDED" for r in rows)
