"""Job state is derived, never stored: observe everything about a job, then ``derive``.

``observe`` reads the stage markers, script.pid (is run.sh alive?), progress.json and,
for a failed job, results.json and the tail of its log; the container's state comes from
ONE Docker list call per status command (containers found by label). ``derive`` is a
pure function of that Observation: the whole state machine is there and nowhere else.

    markers (logs/)            script   container  ->  state
    stage.killed               any      any            KILLED
    stage.exit "<t> 0"         any      any            SUCCEEDED
    stage.exit "<t> N [why]"   any      any            FAILED (why, or what N means)
    stage.exit empty or torn   alive    any            RUNNING (it is being written)
    stage.exit empty or torn   dead     gone           FAILED (unreadable)
    stage.running              any      alive          RUNNING
    stage.running              alive    gone           RUNNING (container starting/ending)
    stage.running              dead     gone           LOST (run inv resume)
    stage.pre-start            alive    any            STARTING (deployment / endpoint)
    stage.pre-start            dead     gone           LOST (run inv resume)
    none                       any      alive          RUNNING
    none                       dead     gone           PENDING
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from proctor.harness.untrusted import loads, printable
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.local import docker as containers_mod
from proctor.launcher.executors.local import processes
from proctor.launcher.jobs.invocations import Invocation, JobRef

State = Literal["PENDING", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "KILLED", "LOST"]
STATES: tuple[State, ...] = (
    "PENDING",
    "STARTING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "KILLED",
    "LOST",
)
ENDED: frozenset[State] = frozenset({"SUCCEEDED", "FAILED", "KILLED", "LOST"})
EXIT_ERROR_RATE = 3  # the harness: finished, but more errors than max_error_rate allows
EXIT_STORAGE = 4  # the harness: the results folder is full or read-only
UNREACHABLE_CODES = ("connection", "timeout")  # the harness's Failure.code values
LOG_TAIL_BYTES = 8192
_BUDGET_LINE = re.compile(r"error budget spent: .*?; last: (?P<last>.*); stopping\s*$")
_SIGNALS = {130: "SIGINT", 137: "SIGKILL", 143: "SIGTERM"}


# -- what is observed ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExitMarker:
    """logs/stage.exit: "<iso time> <exit code> [reason]"."""

    code: int | None  # None: empty or torn
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class ContainerSeen:
    state: str  # Docker's: created, running, exited, ...
    exit_code: int | None = None

    @property
    def alive(self) -> bool:
        return self.state in containers_mod.ALIVE_STATES


@dataclass(frozen=True)
class ProgressSeen:
    """progress.json as the harness last wrote it."""

    done: int
    failed: int
    total: int
    rate_per_s: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class ResultsSeen:
    """The part of results.json that explains a failure."""

    status: str
    scored: int
    errors: int
    total: int
    max_error_rate: float | None = None


@dataclass(frozen=True)
class Observation:
    """Everything observed about one job at one moment; ``derive`` needs nothing else."""

    pre_start: bool = False
    running: bool = False
    exit: ExitMarker | None = None
    killed: bool = False
    script_alive: bool = False
    container: ContainerSeen | None = None  # None: no container carries the job's label
    docker_known: bool = True  # False: Docker did not answer, container is unknown
    driver_alive: bool | None = None  # a live run_all.sh will run it; None: not looked at
    deployment: bool = False  # the invocation starts a model server first
    progress: ProgressSeen | None = None
    results: ResultsSeen | None = None  # read only for failed jobs
    last_error: str | None = None  # from the log, read only for failed jobs
    started_at: datetime | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class JobStatus:
    state: State
    reason: str = ""
    exit_code: int | None = None
    elapsed_s: float | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED


# -- the derivation --------------------------------------------------------------------------


def derive(obs: Observation) -> JobStatus:
    """The state of a job, with a reason a person can act on. Pure: no I/O."""
    code = obs.exit.code if obs.exit else None
    elapsed = _elapsed(obs)
    container_alive = obs.container is not None and obs.container.alive
    if obs.killed:
        if obs.script_alive or container_alive:
            reason = "killed by inv kill; stopping"
        elif not (obs.pre_start or obs.running or obs.exit):
            reason = "killed by inv kill before it started"
        else:
            reason = "killed by inv kill" + (f" (exit {code})" if code is not None else "")
        return JobStatus("KILLED", reason, code, elapsed)
    if obs.exit is not None and code is None and (obs.script_alive or container_alive):
        return JobStatus("RUNNING", "finishing", None, elapsed)  # stage.exit being written
    if obs.exit is not None:
        if code == 0:
            return JobStatus("SUCCEEDED", "", 0, elapsed)
        return JobStatus("FAILED", failure_reason(obs), code, elapsed)
    if obs.running or obs.pre_start:
        if container_alive:
            return JobStatus("RUNNING", "", None, elapsed)
        if obs.script_alive:
            if obs.running:
                why = "container ending" if obs.container else "container starting"
                return JobStatus("RUNNING", why, None, elapsed)
            why = "waiting for the deployment" if obs.deployment else "starting"
            return JobStatus("STARTING", why, None, elapsed)
        return JobStatus("LOST", _lost_reason(obs), None, elapsed)
    if container_alive:
        return JobStatus("RUNNING", "container running without markers", None, elapsed)
    if obs.script_alive:
        return JobStatus("STARTING", "starting", None, elapsed)
    if obs.driver_alive is False:
        return JobStatus("PENDING", "never started and run_all.sh is gone: run inv resume")
    return JobStatus("PENDING", "queued" if obs.driver_alive else "")


def _lost_reason(obs: Observation) -> str:
    if not obs.docker_known:
        gone = "script gone, container unknown (Docker did not answer)"
    elif obs.container is not None:
        exited = obs.container.exit_code
        gone = "script gone, container exited" + (f" ({exited})" if exited is not None else "")
    elif obs.running:
        gone = "script and container gone"
    else:
        gone = "script gone before its container started"
    return f"{gone}: run inv resume"


def failure_reason(obs: Observation) -> str:
    """Why a job with a non-zero stage.exit failed, most specific first."""
    assert obs.exit is not None
    code, why = obs.exit.code, obs.exit.reason
    if code is None:
        return "exit status unreadable (logs/stage.exit is empty or torn)"
    if why == "oom-killed":
        return f"OOM-killed (exit {code})"
    if why.startswith("missing-env:"):
        return f"environment variable {why.partition(':')[2]} is not set (exit {code})"
    if why == "deployment-failed":
        return "deployment failed: see deployment/logs"
    if why:
        return f"{why} (exit {code})"
    results = obs.results
    if code == EXIT_ERROR_RATE and results is not None and results.status == "error_rate_exceeded":
        last = obs.last_error or ""
        if last.split(":", 1)[0] in UNREACHABLE_CODES:
            return f"endpoint unreachable ({last})"
        limit = f", max {results.max_error_rate:g}" if results.max_error_rate is not None else ""
        detail = f"; last: {last}" if last else ""
        return (
            f"error rate over the limit: {results.errors} of {results.total} "
            f"samples failed{limit}{detail}"
        )
    if code == EXIT_STORAGE:
        return "results folder full or read-only (exit 4): free space, then inv resume"
    if code in _SIGNALS:
        return f"killed by {_SIGNALS[code]} (exit {code})"
    if code == 125:
        return "docker run failed (exit 125)" + (f": {obs.last_error}" if obs.last_error else "")
    return f"exit code {code}" + (f": {obs.last_error}" if obs.last_error else "")


def _elapsed(obs: Observation) -> float | None:
    if obs.started_at is None:
        return None
    end = obs.exit.at if obs.exit and obs.exit.at else obs.now
    if obs.exit is not None and obs.exit.at is None:
        return None
    return max(0.0, (end - obs.started_at).total_seconds())


# -- observing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    """One job with what was seen and what it means: a row of `inv status`."""

    job: JobRef
    obs: Observation
    status: JobStatus
    container_name: str | None = None

    @property
    def settled(self) -> bool:
        """Nothing will change without someone acting: ended, or waiting on a dead driver."""
        st = self.status
        return st.ended or (st.state == "PENDING" and self.obs.driver_alive is False)


def observe(
    job: JobRef,
    *,
    container: containers_mod.Container | None,
    docker_known: bool,
    driver_alive: bool | None,
    deployment: bool,
    now: datetime,
) -> Observation:
    """Read one job's files. Never raises for missing, empty or half-written files."""
    try:
        names = {entry.name for entry in os.scandir(job.logs)}
    except OSError:
        names = set()
    exit_marker = _exit_marker(job.logs / "stage.exit") if "stage.exit" in names else None
    killed = "stage.killed" in names
    script_alive = False
    if (exit_marker is None or exit_marker.code is None) and "script.pid" in names:
        script_alive = processes.script_alive(job.logs / "script.pid") is not None
    started_at = _marker_time(job.logs / "stage.pre-start") if "stage.pre-start" in names else None
    results = last_error = None
    if exit_marker is not None and exit_marker.code not in (0, None) and not killed:
        results = _results(job.artifacts / "results.json")
        last_error = _last_error(job.logs / "stdout.log")
    seen = None
    if container is not None:
        seen = ContainerSeen(container.state, container.exit_code)
    return Observation(
        pre_start="stage.pre-start" in names,
        running="stage.running" in names,
        exit=exit_marker,
        killed=killed,
        script_alive=script_alive,
        container=seen,
        docker_known=docker_known,
        driver_alive=driver_alive,
        deployment=deployment,
        progress=_progress(job.artifacts / "progress.json"),
        results=results,
        last_error=last_error,
        started_at=started_at,
        now=now,
    )


def _read(path: Path, limit: int = 65536) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _marker_time(path: Path) -> datetime | None:
    text = _read(path, 200)
    return _parse_time(text.split()[0]) if text and text.split() else None


def _exit_marker(path: Path) -> ExitMarker:
    fields = (_read(path, 500) or "").split(maxsplit=2)
    code = int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() else None
    reason = fields[2].strip() if len(fields) > 2 else ""
    return ExitMarker(code, reason, _parse_time(fields[0]) if fields else None)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _progress(path: Path) -> ProgressSeen | None:
    text = _read(path)
    if not text:
        return None
    try:
        data = loads(text)
        return ProgressSeen(
            done=int(data["done"]),
            failed=int(data.get("failed") or 0),
            total=int(data["total"]),
            rate_per_s=_number(data.get("rate_per_s")),
            eta_s=_number(data.get("eta_s")),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # half-written or not the harness's: show no progress


def _results(path: Path) -> ResultsSeen | None:
    text = _read(path, 1 << 20)
    try:
        data = loads(text or "")
        counts = data["counts"]
        return ResultsSeen(
            status=str(data["status"]),
            scored=int(counts["scored"]),
            errors=int(counts["errors"]),
            total=int(counts["total"]),
            max_error_rate=_number(data.get("max_error_rate")),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _last_error(log: Path) -> str | None:
    """The harness's reason for stopping, else its last complaint, from the log's tail."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            tail = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        match = _BUDGET_LINE.search(line)
        if match:
            return printable(match["last"].strip(), lines=False)
    for line in reversed(tail):
        text = line.strip()
        if text and not text.startswith("[proctor]"):
            return printable(text[:200], lines=False)
    return None


# -- many jobs at once -----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every selected job's row, per invocation, from one look at Docker."""

    rows: dict[str, list[JobRow]]
    warning: str | None = None

    def of(self, invocation: Invocation) -> list[JobRow]:
        return self.rows.get(invocation.id, [])


def snapshot(
    invocations: Iterable[Invocation],
    *,
    jobs: Iterable[JobRef] | None = None,
    client: Any = None,
    docker: bool = True,
) -> Snapshot:
    """Observe and derive every job (or only ``jobs``) of ``invocations``.

    Args:
        invocations: Where the jobs are.
        jobs: Only these jobs (default: all of them).
        client: A Docker client; by default one is connected when ``docker`` is true.
        docker: False to skip Docker entirely (containers are then unknown).
    """
    invocations = list(invocations)
    wanted = {j.id for j in jobs} if jobs is not None else None
    by_job: dict[str, containers_mod.Container] = {}
    warning = None
    known = False
    if docker:
        try:
            client = client or containers_mod.connect()
            only = {}
            if len(invocations) == 1:
                only = {containers_mod.LABEL_INVOCATION: invocations[0].id}
            for c in containers_mod.list_containers(client, **only):
                # Prefer a live container when an old one with the same label lingers.
                # A code benchmark's sandbox carries its job's label too: only the task's
                # own container speaks for the job.
                if c.labels.get(containers_mod.LABEL_ROLE, "task") != "task":
                    continue
                if c.job and (c.job not in by_job or c.alive):
                    by_job[c.job] = c
            known = True
        except ProctorError as e:
            warning = f"container states unknown: {e}"
    now = datetime.now(UTC)
    live: dict[str, list[processes.Process]] | None = None  # one /proc pass, when needed
    rows: dict[str, list[JobRow]] = {}
    for inv in invocations:
        out = []
        for job in inv.jobs:
            if wanted is not None and job.id not in wanted:
                continue
            driver = None
            if not (job.logs / "stage.pre-start").exists():  # not started: is it queued?
                live = processes.all_drivers() if live is None else live
                driver = processes.queued(job.task, processes.drivers(inv.folder, live))
            container = by_job.get(job.id)
            obs = observe(
                job,
                container=container,
                docker_known=known,
                driver_alive=driver,
                deployment=inv.deployment,
                now=now,
            )
            out.append(JobRow(job, obs, derive(obs), container.name if container else None))
        rows[inv.id] = out
    return Snapshot(rows, warning)


def counts(rows: Iterable[JobRow]) -> dict[State, int]:
    """How many jobs are in each state, in the order of STATES, zeros left out."""
    seen: dict[State, int] = {}
    for row in rows:
        seen[row.status.state] = seen.get(row.status.state, 0) + 1
    return {state: seen[state] for state in STATES if state in seen}
