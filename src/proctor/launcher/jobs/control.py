"""Acting on jobs: `inv kill` (stop them, mark them KILLED) and `inv resume` (rerun them).

Both work from the invocation folder only. Resume reruns the stored run_all.sh/run.sh
(never the config file, which may have changed since); the harness then continues
each task sample by sample from its journal.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.local import docker as containers
from proctor.launcher.executors.local import processes
from proctor.launcher.jobs import invocations, status
from proctor.launcher.jobs.invocations import Invocation
from proctor.launcher.jobs.status import JobRow

KILLED_MARKER = "stage.killed"
# Markers of the last attempt; resume removes them so a queued rerun shows PENDING.
ATTEMPT_MARKERS = ("stage.pre-start", "stage.running", "stage.exit", KILLED_MARKER)
RUN_LOCK = "run.lock"
SETTLE_S = 3.0  # how long a script gets to finish by itself once its container is gone


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_marker(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _connect(client: Any) -> tuple[Any, str | None]:
    if client is not None:
        return client, None
    try:
        return containers.connect(), None
    except ProctorError as e:
        return None, str(e)


# -- kill ------------------------------------------------------------------------------------


def kill(outputs: Path, ident: str, *, grace: float = 10.0, client: Any = None) -> list[str]:
    """Stop an invocation or one job; return one line per job saying what happened.

    Marks each job that has not ended with logs/stage.killed first (so a driver skips it
    if it has not started), stops its container by label (SIGTERM, then SIGKILL after
    ``grace`` s), then ends the script's process group (SIGTERM, then SIGKILL). For a
    whole invocation its run_all.sh drivers are ended too. Killing again is harmless.
    """
    selection = invocations.resolve(outputs, ident)
    inv = selection.invocation
    client, docker_down = _connect(client)
    snap = status.snapshot([inv], jobs=selection.jobs, client=client, docker=client is not None)
    rows = snap.of(inv)
    targets = [r for r in rows if not r.status.ended]
    target_ids = {r.job.id for r in targets}
    drivers = processes.drivers(inv.folder) if selection.whole else []
    lines = [
        f"{r.job.id} ({r.job.task}): already ended ({r.status.state})"
        for r in rows
        if r.status.ended
    ]

    for row in targets:
        _write_marker(row.job.logs / KILLED_MARKER, f"{_now()} inv kill\n")
    # No driver may start anything more (the markers already stop it for jobs it reaches).
    for driver in drivers:
        processes.signal_script(driver, signal.SIGTERM)
    stopped: list[str] = []
    for _attempt in range(3):
        stopped += _stop(inv, client, target_ids, selection.whole, grace)
        scripts = [p for r in targets if (p := processes.script_alive(r.job.logs / "script.pid"))]
        left = processes.wait_gone(scripts, SETTLE_S)
        processes.terminate(left + processes.wait_gone(drivers, 0), grace)
        # A run.sh that started between our marker and its own start removed the marker:
        # put it back and go round again.
        again = [r for r in targets if not (r.job.logs / KILLED_MARKER).exists()]
        if not again:
            break
        for row in again:
            _write_marker(row.job.logs / KILLED_MARKER, f"{_now()} inv kill\n")

    for row in targets:
        was = row.status.state
        lines.append(
            f"{row.job.id} ({row.job.task}): {was} -> KILLED "
            f"({'will not start' if was == 'PENDING' else 'stopped'})"
        )
    if drivers:
        lines.append(f"ended run_all.sh of {inv.id} (pid {', '.join(str(d.pid) for d in drivers)})")
    others = [name for name in stopped if name not in {r.container_name for r in targets}]
    if others:
        lines.append(f"stopped {', '.join(others)}")
    if docker_down and targets:
        lines.append(f"warning: containers not stopped: {docker_down}")
    return lines or [f"nothing to kill in {inv.id}"]


def _stop(inv: Invocation, client: Any, job_ids: set[str], whole: bool, grace: float) -> list[str]:
    """Stop the jobs' containers, and for a whole invocation every other one (its server)."""
    if client is None:
        return []
    found = containers.list_containers(client, **{containers.LABEL_INVOCATION: inv.id})
    tasks = [c for c in found if c.alive and c.job in job_ids]
    stopped = containers.stop_containers(client, tasks, grace)
    if whole:
        rest = [c for c in found if c.alive and c not in tasks]
        stopped += containers.stop_containers(client, rest, grace)
    return stopped


# -- resume ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    invocation: Invocation
    started: list[JobRow]  # the jobs handed to the new run_all.sh, as they were
    busy: list[str]  # jobs left alone because they run or wait already
    pid: int | None  # the new run_all.sh; None when there was nothing to do


def resume(
    outputs: Path, ident: str | None = None, tasks: list[str] | None = None, *, client: Any = None
) -> Resumed:
    """Rerun the jobs of an invocation that did not succeed (or the named tasks), detached.

    Args:
        outputs: The outputs folder.
        ident: An invocation id prefix (default: the latest invocation).
        tasks: Task folder names to rerun, whatever their state; default: every job that
            FAILED, was KILLED, is LOST, or never started and has no driver left.
        client: A Docker client (default: connect).

    Raises:
        ProctorError: A named job is running or queued already, or another resume of the
            same invocation is starting this very moment.
    """
    from filelock import FileLock, Timeout

    inv = invocations.invocation(outputs, ident)
    if not (inv.folder / "run_all.sh").is_file():
        raise ProctorError(f"{inv.folder}/run_all.sh is missing: this invocation cannot be resumed")
    # Two resumes must not both find a job free and both start it.
    try:
        with FileLock(str(inv.folder / ".resume.lock"), timeout=10):
            return _resume(inv, tasks or [], client)
    except Timeout:
        raise ProctorError(f"another inv resume of {inv.id} is still starting; try again") from None


def _resume(inv: Invocation, tasks: list[str], client: Any) -> Resumed:
    from filelock import FileLock, Timeout

    named = [inv.job(task=t) for t in dict.fromkeys(tasks)]
    client, docker_down = _connect(client)
    if docker_down:
        raise ProctorError(docker_down)
    rows = status.snapshot([inv], client=client).of(inv)
    drivers = processes.drivers(inv.folder)

    def busy(row: JobRow) -> str | None:
        if row.status.state in ("RUNNING", "STARTING"):
            return f"already {row.status.state}"
        if row.status.state == "PENDING" and processes.queued(row.job.task, drivers):
            pids = ", ".join(str(d.pid) for d in drivers)
            return f"already queued by run_all.sh (pid {pids})"
        try:
            with FileLock(str(row.job.logs / RUN_LOCK), timeout=0):
                return None
        except Timeout:
            return f"already running (its {RUN_LOCK} is held)"
        except OSError:
            return None

    if named:
        wanted = {j.id for j in named}
        selected = [r for r in rows if r.job.id in wanted]
        for row in selected:
            why = busy(row)
            if why:
                raise ProctorError(
                    f"job {row.job.id} ({row.job.task}) is {why}: wait for it, "
                    f"or stop it with inv kill {row.job.id}"
                )
        left_alone: list[str] = []
    else:
        candidates = [r for r in rows if r.status.state != "SUCCEEDED"]
        verdicts = [(r, busy(r)) for r in candidates]
        selected = [r for r, why in verdicts if not why]
        left_alone = [f"{r.job.id} ({r.job.task}) is {why}" for r, why in verdicts if why]
        if not selected and left_alone:
            raise ProctorError(
                f"nothing to resume in {inv.id}: {'; '.join(left_alone)} "
                f"(wait for them, or stop them with inv kill {inv.id})"
            )
        if not selected:
            return Resumed(inv, [], [], None)
    if inv.deployment and drivers:
        pids = ", ".join(str(d.pid) for d in drivers)
        raise ProctorError(
            f"the model server of {inv.id} belongs to its running run_all.sh (pid {pids}), "
            f"which stops it when it ends: wait for it, or inv kill {inv.id}, then resume"
        )
    for row in selected:
        for name in ATTEMPT_MARKERS:
            (row.job.logs / name).unlink(missing_ok=True)
    from proctor.launcher.run.launch import start

    pid = start(inv.folder, [r.job.task for r in selected])
    return Resumed(inv, selected, left_alone, pid)
