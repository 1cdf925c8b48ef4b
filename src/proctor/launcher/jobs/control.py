"""Acting on jobs: `inv kill` (stop them, mark them KILLED) and `inv resume` (rerun them).

Both work from the invocation folder only. Resume reruns the stored run_all.sh/run.sh
(never the config file, which may have changed since); the harness then continues
each task sample by sample from its journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from proctor.harness.atomicfile import write_atomic
from proctor.launcher import executors
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import invocations, status
from proctor.launcher.jobs.invocations import Invocation
from proctor.launcher.jobs.status import JobRow

KILLED_MARKER = "stage.killed"
# Markers of the last attempt; resume removes them so a queued rerun shows PENDING.
ATTEMPT_MARKERS = ("stage.pre-start", "stage.running", "stage.exit", KILLED_MARKER)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- kill ------------------------------------------------------------------------------------


def kill(
    outputs: Path, ident: str, *, grace: float = 10.0, pool: executors.Pool | None = None
) -> list[str]:
    """Stop an invocation or one job; return one line per job saying what happened.

    Marks each job that has not ended with logs/stage.killed first (so a driver skips it
    if it has not started), then has the executor stop it (SIGTERM, then SIGKILL after
    ``grace`` s); for a whole invocation, also what drives it. Killing again is harmless.
    """
    selection = invocations.resolve(outputs, ident)
    inv = selection.invocation
    pool = pool or executors.Pool()
    executor = pool.get(inv.executor)
    rows = status.snapshot([inv], jobs=selection.jobs, pool=pool).of(inv)
    targets = [r for r in rows if not r.status.ended]
    lines = [
        f"{r.job.id} ({r.job.task}): already ended ({r.status.state})"
        for r in rows
        if r.status.ended
    ]

    for row in targets:
        write_atomic(row.job.logs / KILLED_MARKER, f"{_now()} inv kill\n")
    notes: list[str] = []
    for _attempt in range(3):
        notes += executor.stop(inv, targets, whole=selection.whole, grace=grace)
        # A script that started between our marker and its own start removed the marker:
        # put it back and go round again.
        again = [r for r in targets if not (r.job.logs / KILLED_MARKER).exists()]
        if not again:
            break
        for row in again:
            write_atomic(row.job.logs / KILLED_MARKER, f"{_now()} inv kill\n")

    for row in targets:
        was = row.status.state
        lines.append(
            f"{row.job.id} ({row.job.task}): {was} -> KILLED "
            f"({'will not start' if was == 'PENDING' else 'stopped'})"
        )
    lines += dict.fromkeys(notes)
    return lines or [f"nothing to kill in {inv.id}"]


# -- resume ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    invocation: Invocation
    started: list[JobRow]  # the jobs handed to the new run_all.sh, as they were
    busy: list[str]  # jobs left alone because they run or wait already
    handle: str | None  # what the executor started (run_all.sh pid 4711); None: nothing


def resume(
    outputs: Path,
    ident: str | None = None,
    tasks: list[str] | None = None,
    *,
    pool: executors.Pool | None = None,
) -> Resumed:
    """Rerun the jobs of an invocation that did not succeed (or the named tasks), detached.

    Args:
        outputs: The outputs folder.
        ident: An invocation id prefix (default: the latest invocation).
        tasks: Task folder names to rerun, whatever their state; default: every job that
            FAILED, was KILLED, is LOST, or never started and has no driver left.
        pool: The executors (default: new ones).

    Raises:
        ProctorError: A named job is running or queued already, or another resume of the
            same invocation is starting this very moment.
    """
    from filelock import FileLock, Timeout

    inv = invocations.invocation(outputs, ident)
    # Two resumes must not both find a job free and both start it.
    try:
        with FileLock(str(inv.folder / ".resume.lock"), timeout=10):
            return _resume(inv, tasks or [], pool or executors.Pool())
    except Timeout:
        raise ProctorError(f"another inv resume of {inv.id} is still starting; try again") from None


def _resume(inv: Invocation, tasks: list[str], pool: executors.Pool) -> Resumed:
    named = [inv.job(task=t) for t in dict.fromkeys(tasks)]
    executor = pool.get(inv.executor)
    snap = status.snapshot([inv], pool=pool)
    if inv.id in snap.errors:  # its jobs' state is not known: nothing can be decided
        raise ProctorError(snap.errors[inv.id])
    rows = snap.of(inv)
    wanted = {j.id for j in named}
    asked = [r for r in rows if r.job.id in wanted or (not named and r.status.state != "SUCCEEDED")]
    elsewhere = executor.busy(inv, [r for r in asked if r.status.state not in _ACTIVE])

    def busy(row: JobRow) -> str | None:
        if row.status.state in _ACTIVE:
            return f"already {row.status.state}"
        return elsewhere.get(row.job.id)

    if named:
        selected = asked
        for row in selected:
            why = busy(row)
            if why:
                raise ProctorError(
                    f"job {row.job.id} ({row.job.task}) is {why}: wait for it, "
                    f"or stop it with inv kill {row.job.id}"
                )
        left_alone: list[str] = []
    else:
        verdicts = [(r, busy(r)) for r in asked]
        selected = [r for r, why in verdicts if not why]
        left_alone = [f"{r.job.id} ({r.job.task}) is {why}" for r, why in verdicts if why]
        if not selected and left_alone:
            raise ProctorError(
                f"nothing to resume in {inv.id}: {'; '.join(left_alone)} "
                f"(wait for them, or stop them with inv kill {inv.id})"
            )
        if not selected:
            return Resumed(inv, [], [], None)
    for row in selected:
        for name in ATTEMPT_MARKERS:
            (row.job.logs / name).unlink(missing_ok=True)
    started = executor.start(inv.folder, [r.job.task for r in selected])
    return Resumed(inv, selected, left_alone, started)


_ACTIVE = ("RUNNING", "STARTING")
