"""Slurm's command-line tools, the portable interface: sbatch, squeue, sacct, scancel, scontrol.

Every call runs with a bare environment (PATH, HOME, LANG): sbatch stores the submitting
environment with the job (slurmctld's state, ``scontrol show job``'s environment, and
sacct's ``--env-vars`` where job_env is recorded), so nothing a user exported, secrets
included, may reach it. The parsers are pure functions of the ``--parsable``/``-P``
output, whose layout has been stable for many releases (the ``--json`` layouts change per
version, and pyslurm is tied to one Slurm release: see ../shared/SLURM.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from proctor.launcher.errors import ProctorError

TIMEOUT_S = 30.0
SQUEUE_FORMAT = "%i|%T|%r"
SACCT_FIELDS = "JobID,State,ExitCode,Start,End"
# Slurm states of a job that is still queued or holds its allocation.
LIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)
# Live states of a job waiting for an allocation (again, after a requeue).
QUEUED_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
# How a job can end that says the cluster, not the task, stopped it.
CLUSTER_ENDS = frozenset(
    {"TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
)


def bare_env() -> dict[str, str]:
    """The only environment a Slurm command gets from us (see the module docstring)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for name in ("HOME", "USER", "LOGNAME", "SLURM_CONF"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(args: Sequence[str], what: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one Slurm command; ProctorError with Slurm's own first line when it fails."""
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=TIMEOUT_S, env=bare_env()
        )
    except FileNotFoundError:
        raise ProctorError(
            f"{args[0]} not found: {what} needs Slurm's commands on PATH "
            "(on one machine: make slurm-up)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ProctorError(f"{what}: {args[0]} did not answer within {TIMEOUT_S:g} s") from None
    if check and done.returncode != 0:
        raise ProctorError(f"{what}: {slurm_words(done)}")
    return done


def slurm_words(done: subprocess.CompletedProcess[str]) -> str:
    """Slurm's own message, on one line (sbatch: error: ... -> the last error line)."""
    lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    return errors[-1] if errors else f"exit status {done.returncode}"


# -- parsing (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlurmFact:
    """What Slurm says about one job id."""

    job_id: str
    state: str  # first word of Slurm's state: PENDING, RUNNING, COMPLETED, TIMEOUT, ...
    reason: str = ""  # squeue's reason for a pending job (Priority, Resources, held, ...)
    exit_code: int | None = None
    signal: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def queued(self) -> bool:
        return self.state in QUEUED_STATES


def parse_job_id(stdout: str) -> str:
    """``sbatch --parsable`` prints ``id`` or ``id;cluster``."""
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    job_id = first.split(";")[0].strip()
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed no job id: {stdout.strip()!r}")
    return job_id


def parse_squeue(text: str) -> dict[str, SlurmFact]:
    """``squeue -h -o '%i|%T|%r'`` -> facts by job id."""
    facts: dict[str, SlurmFact] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        reason = parts[2].strip() if len(parts) > 2 else ""
        facts[parts[0].strip()] = SlurmFact(
            parts[0].strip(), parts[1].strip(), "" if reason == "None" else reason
        )
    return facts


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        return None  # Unknown, None


def parse_sacct(text: str) -> dict[str, SlurmFact]:
    """``sacct -X -n -P -o JobID,State,ExitCode,Start,End`` -> facts by job id.

    The state's first word counts (``CANCELLED by 0`` is CANCELLED); ExitCode is
    ``code:signal``. Steps (``123.batch``) are skipped; with requeues the last row wins.
    """
    facts: dict[str, SlurmFact] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0] or "." in parts[0]:
            continue
        state = parts[1].split()[0] if parts[1].split() else ""
        code = sig = None
        match = re.match(r"^(\d+):(\d+)$", parts[2].strip())
        if match:
            code, sig = int(match[1]), int(match[2])
        facts[parts[0].strip()] = SlurmFact(
            parts[0].strip(),
            state,
            exit_code=code,
            signal=sig,
            start=_time(parts[3]) if len(parts) > 3 else None,
            end=_time(parts[4]) if len(parts) > 4 else None,
        )
    return facts


def time_limit_seconds(limit: str | None) -> int:
    """Slurm's time formats in seconds (0: no limit). MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]."""
    if not limit:
        return 0
    days = 0
    if "-" in limit:
        head, limit = limit.split("-", 1)
        days = int(head)
        parts = [int(p) for p in limit.split(":")]
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
    else:
        parts = [int(p) for p in limit.split(":")]
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, (minutes, seconds) = 0, parts
        else:
            hours, minutes, seconds = parts
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


# -- the calls ---------------------------------------------------------------------------------


def squeue(ids: Iterable[str]) -> dict[str, SlurmFact]:
    """Every live job among ``ids``, in one squeue call (finished jobs vanish from it).

    All of the user's jobs are listed and filtered here: ``squeue -j`` refuses the whole
    list when one id has been purged already.
    """
    wanted = set(ids)
    if not wanted:
        return {}
    done = run(["squeue", "-h", "--me", "-o", SQUEUE_FORMAT], "squeue")
    return {k: v for k, v in parse_squeue(done.stdout).items() if k in wanted}


def sacct(ids: Iterable[str]) -> dict[str, SlurmFact]:
    """The accounting records of ``ids``, in one sacct call (it lags squeue by seconds)."""
    wanted = sorted(set(ids), key=int)
    if not wanted:
        return {}
    done = run(["sacct", "-X", "-n", "-P", "-j", ",".join(wanted), "-o", SACCT_FIELDS], "sacct")
    return parse_sacct(done.stdout)


def scancel(ids: Iterable[str]) -> None:
    wanted = sorted(set(ids), key=int)
    if wanted:
        run(["scancel", *wanted], "scancel", check=False)
