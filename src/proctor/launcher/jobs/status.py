"""Job state is derived, never stored: observe everything about a job, then ``derive``.

``observe`` reads the stage markers, progress.json and, for a failed job, results.json
and the tail of its log; the rest comes from the invocation's executor as facts
(proctor.launcher.executors.base): whether the job's script is alive, what its unit (the
task's container, a Slurm job) is doing, whether something will still start it, all from
ONE look per executor per status command. ``derive`` is a pure function of that
Observation: the whole state machine is there and nowhere else, whatever the executor.

    markers (logs/)            script   unit       ->  state
    stage.killed               any      any            KILLED
    stage.exit "<t> 0"         any      any            SUCCEEDED
    stage.exit "<t> N [why]"   any      any            FAILED (why, or what N means)
    stage.exit empty or torn   alive    any            RUNNING (it is being written)
    stage.exit empty or torn   dead     gone           FAILED (unreadable)
    stage.running              any      alive          RUNNING
    stage.running              alive    gone           RUNNING (unit starting/ending)
    stage.running              dead     gone           LOST (run inv resume)
    stage.pre-start            alive    any            STARTING (deployment / endpoint)
    stage.pre-start            dead     gone           LOST (run inv resume)
    stage.running/pre-start    dead     ended by the   FAILED (the executor's reason:
                                        service        TIMEOUT, NODE_FAIL, PREEMPTED, ...)
    stage.running/pre-start    dead     not listed     RUNNING/STARTING while the
                                        yet            executor's records lag, then LOST
    none                       any      alive          RUNNING
    none                       dead     gone           PENDING
    (a requeued job whose new attempt has not started is PENDING, whatever its markers)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from proctor.harness.exchange import ProgressFile, ResultsFile
from proctor.harness.untrusted import printable
from proctor.launcher import executors
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Facts, JobFacts, Terms, Unit
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
    # what the executor reported (executors.base.JobFacts)
    script_alive: bool = False
    unit: Unit | None = None  # None: the executor knows no unit of this job
    known: bool = True  # False: the executor's service did not answer, the unit is unknown
    queued: bool | None = None  # something live will start it; None: not looked at
    requeued: bool = False  # a new attempt is queued and has not started yet
    attempt: str = ""  # "2/4" where the executor resubmits jobs
    settling: bool = False  # no unit listed, but the executor's records may lag
    terms: Terms = field(default_factory=Terms)
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
    unit_alive = obs.unit is not None and obs.unit.alive
    if obs.killed:
        if obs.script_alive or unit_alive:
            reason = "killed by inv kill; stopping"
        elif not (obs.pre_start or obs.running or obs.exit):
            reason = "killed by inv kill before it started"
        else:
            reason = "killed by inv kill" + (f" (exit {code})" if code is not None else "")
        return JobStatus("KILLED", reason, code, elapsed)
    if obs.requeued and not obs.script_alive:
        why = f" after {obs.unit.reason}" if obs.unit is not None and obs.unit.reason else ""
        return JobStatus("PENDING", f"resubmitted{why}", None, None)
    if obs.exit is not None and code is None and (obs.script_alive or unit_alive):
        return JobStatus("RUNNING", "finishing", None, elapsed)  # stage.exit being written
    if obs.exit is not None:
        if code == 0:
            return JobStatus("SUCCEEDED", "", 0, elapsed)
        return JobStatus("FAILED", failure_reason(obs), code, elapsed)
    unit = obs.terms.unit
    if obs.running or obs.pre_start:
        if unit_alive:
            return JobStatus("RUNNING", "", None, elapsed)
        if obs.script_alive:
            if obs.running:
                why = f"{unit} ending" if obs.unit else f"{unit} starting"
                return JobStatus("RUNNING", why, None, elapsed)
            why = "waiting for the deployment" if obs.deployment else "starting"
            return JobStatus("STARTING", why, None, elapsed)
        if obs.unit is not None and obs.unit.ended and obs.unit.reason:
            # The service ended it before the script could say so (TIMEOUT, NODE_FAIL).
            return JobStatus("FAILED", obs.unit.reason, obs.unit.exit_code or None, elapsed)
        if obs.unit is None and obs.settling:
            why = f"{unit} not listed by {obs.terms.service} yet (its records lag)"
            return JobStatus("RUNNING" if obs.running else "STARTING", why, None, elapsed)
        return JobStatus("LOST", _lost_reason(obs), None, elapsed)
    if unit_alive:
        return JobStatus("RUNNING", f"{unit} running without markers", None, elapsed)
    if obs.script_alive:
        return JobStatus("STARTING", "starting", None, elapsed)
    if obs.queued is False:
        return JobStatus("PENDING", f"never started and {obs.terms.driver} is gone: run inv resume")
    if obs.queued and obs.unit is not None and obs.unit.reason:
        return JobStatus("PENDING", f"queued ({obs.unit.reason})")
    return JobStatus("PENDING", "queued" if obs.queued else "")


def _lost_reason(obs: Observation) -> str:
    unit = obs.terms.unit
    if not obs.known:
        gone = f"script gone, {unit} unknown ({obs.terms.service} did not answer)"
    elif obs.unit is not None:
        exited = obs.unit.exit_code
        gone = f"script gone, {unit} exited" + (f" ({exited})" if exited is not None else "")
    elif obs.running:
        gone = f"script and {unit} gone"
    else:
        gone = f"script gone before its {unit} started"
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
    if why == "docker-run-failed":
        return f"docker run failed (exit {code})" + (
            f": {obs.last_error}" if obs.last_error else ""
        )
    if why:
        return f"{why} (exit {code})"
    if obs.unit is not None and obs.unit.ended and obs.unit.reason:
        return f"{obs.unit.reason} (exit {code})"  # the executor's word: TIMEOUT, NODE_FAIL
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

    @property
    def settled(self) -> bool:
        """Nothing will change without someone acting: ended, or waiting on a dead driver."""
        st = self.status
        return st.ended or (st.state == "PENDING" and self.obs.queued is False)


def observe(
    job: JobRef,
    *,
    facts: JobFacts,
    known: bool = True,
    terms: Terms | None = None,
    deployment: bool,
    now: datetime,
) -> Observation:
    """Read one job's files and add the executor's facts about it.

    Never raises for missing, empty or half-written files.
    """
    try:
        names = {entry.name for entry in os.scandir(job.logs)}
    except OSError:
        names = set()
    exit_marker = _exit_marker(job.logs / "stage.exit") if "stage.exit" in names else None
    killed = "stage.killed" in names
    # A whole exit marker is the script's last act: whatever runs under its pid is not it.
    script_alive = facts.script_alive and (exit_marker is None or exit_marker.code is None)
    started_at = _marker_time(job.logs / "stage.pre-start") if "stage.pre-start" in names else None
    results = last_error = None
    if exit_marker is not None and exit_marker.code not in (0, None) and not killed:
        results = _results(job.artifacts / "results.json")
        last_error = _last_error(job.logs / "stdout.log")
    return Observation(
        pre_start="stage.pre-start" in names,
        running="stage.running" in names,
        exit=exit_marker,
        killed=killed,
        script_alive=script_alive,
        unit=facts.unit,
        known=known,
        queued=facts.queued,
        requeued=facts.requeued,
        attempt=facts.attempt,
        settling=facts.settling,
        terms=terms or Terms(),
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
    data: ProgressFile | None = ProgressFile.parse(text) if text else None
    if data is None:
        return None  # half-written or not the harness's: show no progress
    return ProgressSeen(
        done=data.done,
        failed=data.failed,
        total=data.total,
        rate_per_s=_number(data.rate_per_s),
        eta_s=_number(data.eta_s),
    )


def _results(path: Path) -> ResultsSeen | None:
    data: ResultsFile | None = ResultsFile.parse(_read(path, 1 << 20) or "")
    if data is None:
        return None
    return ResultsSeen(
        status=data.status,
        scored=data.counts.scored,
        errors=data.counts.errors,
        total=data.counts.total,
        max_error_rate=_number(data.max_error_rate),
    )


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
    """Every selected job's row, per invocation, from one look per executor.

    Attributes:
        rows: Invocation id -> its selected jobs' rows.
        warning: What could not be seen, for a person (the Docker daemon is down).
        drivers: Invocation id -> what still drives it (``run_all.sh (pid 4711)``).
        errors: Invocation id -> its executor's error when its service did not answer.
    """

    rows: dict[str, list[JobRow]]
    warning: str | None = None
    drivers: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def of(self, invocation: Invocation) -> list[JobRow]:
        return self.rows.get(invocation.id, [])


def snapshot(
    invocations: Iterable[Invocation],
    *,
    jobs: Iterable[JobRef] | None = None,
    quick: bool = False,
    pool: executors.Pool | None = None,
) -> Snapshot:
    """Observe and derive every job (or only ``jobs``) of ``invocations``.

    Args:
        invocations: Where the jobs are.
        jobs: Only these jobs (default: all of them).
        quick: Ask no service (Docker, Slurm): units are then unknown. Reports use it.
        pool: The executors to ask (default: new ones); a command that looks repeatedly
            passes one, so it connects once.
    """
    invocations = list(invocations)
    wanted = {j.id for j in jobs} if jobs is not None else None
    pool = pool or executors.Pool()
    by_type: dict[str, list[Invocation]] = {}
    for inv in invocations:
        by_type.setdefault(inv.executor, []).append(inv)
    facts: dict[str, Facts] = {}  # by invocation id
    warnings: list[str] = []
    for name, group in by_type.items():
        try:
            seen = pool.get(name).observe(group, quick=quick)
        except ProctorError as e:  # an executor this installation does not know
            seen = Facts(error=str(e))
        if seen.error and not quick:
            warnings.append(f"{seen.terms.unit} states unknown: {seen.error}")
        facts.update({inv.id: seen for inv in group})
    now = datetime.now(UTC)
    rows: dict[str, list[JobRow]] = {}
    for inv in invocations:
        seen = facts[inv.id]
        out = []
        for job in inv.jobs:
            if wanted is not None and job.id not in wanted:
                continue
            obs = observe(
                job,
                facts=seen.jobs.get(job.id, JobFacts()),
                known=seen.error is None and not quick,
                terms=seen.terms,
                deployment=inv.deployment,
                now=now,
            )
            out.append(JobRow(job, obs, derive(obs)))
        rows[inv.id] = out
    drivers = {i: text for seen in facts.values() for i, text in seen.drivers.items()}
    errors = {i: seen.error for i, seen in facts.items() if seen.error}
    return Snapshot(rows, "; ".join(dict.fromkeys(warnings)) or None, drivers, errors)


def counts(rows: Iterable[JobRow]) -> dict[State, int]:
    """How many jobs are in each state, in the order of STATES, zeros left out."""
    seen: dict[State, int] = {}
    for row in rows:
        seen[row.status.state] = seen.get(row.status.state, 0) + 1
    return {state: seen[state] for state in STATES if state in seen}


def counts_text(rows: Iterable[JobRow]) -> str:
    """``2 RUNNING, 1 SUCCEEDED``: ``counts`` for people; empty when there are no rows."""
    return ", ".join(f"{n} {state}" for state, n in counts(rows).items())
