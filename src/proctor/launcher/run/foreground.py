"""`inv run --wait`: follow a started invocation until its driver exits, then report.

While the driver runs, the live view (proctor.launcher.jobs.live) shows every job's
progress: bars on a terminal, a summary line elsewhere. Waiting for the driver, not only
for the jobs, means the deployment has been stopped and report.html written when the
report table is printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from proctor.launcher import executors
from proctor.launcher.jobs import invocations, live, views
from proctor.launcher.results import report


def _sleep_while_driven(
    executor: executors.Executor, inv: invocations.Invocation, seconds: float
) -> None:
    """Sleep ``seconds``, waking early when nothing drives the invocation any more (asked
    every ``executor.wake_s``, or told at once when this process started it), so
    ``--wait`` returns soon after run_all.sh exits."""
    if executor.wait_driver(inv, seconds):
        return
    if executor.wake_s >= seconds:  # asking would cost a look like the redraw's own
        time.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(executor.wake_s, left))
        if not executor.driving(inv):
            return


def follow(
    folder: Path,
    *,
    every_s: float = live.LOOK_EVERY_S,
    out: TextIO = sys.stdout,
    pool: executors.Pool | None = None,
) -> bool:
    """Show the jobs live until the invocation's driver exits (the executor says when),
    then the status table and the report; True if every job succeeded. ``pool``: the
    executors that started the invocation, when this process did (they know its driver)."""
    inv = invocations.load(folder)
    pool = pool or executors.Pool()
    executor = pool.get(inv.executor)
    rows, snap = live.watch(
        inv,
        until=lambda snap, rows: inv.id not in snap.drivers,
        pause=lambda seconds: _sleep_while_driven(executor, inv, seconds),
        out=out,
        every_s=every_s,
        pool=pool,
    )
    out.write("\n" + views.status_table(inv, rows, snap) + "\n\n")
    out.write(report.table([report.collect(inv)]) + "\n")
    page = folder / "report.html"
    if page.is_file():
        out.write(f"\nreport: {page}\n")
    out.flush()
    return all(r.status.state == "SUCCEEDED" for r in rows)
