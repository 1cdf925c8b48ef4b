"""``execution.type: slurm``: one batch job per task, ``<task>/run.sbatch``.

- render: the ``#SBATCH`` header (validated config values) over the shared task body, with
  the task in docker or podman on the node, or the launching installation's harness.
- start: every task with ``sbatch --parsable --hold``, then ONE ``scontrol release``; when
  an sbatch fails the held ones are cancelled (they never ran), a new invocation's folder
  is removed, and the error is Slurm's own line. Ids go to ``<task>/logs/slurm.jobs``
  ("<attempt> <id>" lines, written whole), which a job extends when it resubmits itself.
- observe: at most ONE squeue and ONE sacct, and none for jobs whose markers say how they
  ended; facts in Slurm's words for the shared ``derive``.
- stop: one scancel of every attempt (and, for the whole invocation, of the report job),
  then wait until squeue no longer lists them (the batch shell's TERM trap stops the
  container; the node's Epilog is the backstop).
- report: ``report.sbatch`` writes report.html when every task's job has ended (submitted
  held with ``--dependency=afterany:<every task job>`` and released with them); until it
  has, it drives the invocation (``inv run --wait`` waits for it). inv resume replaces it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from proctor.harness.atomicfile import write_atomic
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Executor, Facts, JobFacts, Rendered, Terms, Unit
from proctor.launcher.executors.slurm import commands
from proctor.launcher.executors.slurm.commands import CLUSTER_ENDS, SlurmFact

if TYPE_CHECKING:
    from jinja2 import Environment

    from proctor.launcher.jobs.invocations import Invocation, JobRef
    from proctor.launcher.jobs.status import JobRow
    from proctor.launcher.run.plan import Plan

JOBS_FILE = "slurm.jobs"
SCRIPT = "run.sbatch"
# The invocation's report job: <folder>/report.sbatch, its ids in <folder>/logs/slurm.report
# (it resubmits itself while a task is still in Slurm), and logs/report.exit once it ran.
REPORT = "report.sbatch"
REPORT_JOBS = "slurm.report"
REPORT_EXIT = "report.exit"
YOUNG_S = 120.0  # a submission this recent may be missing from sacct (it lags)
RESUMABLE = "walltime:"  # stage.exit reason of an attempt that resubmitted itself
STARTED_MARKERS = ("stage.pre-start", "stage.running")


def attempts(logs: Path, name: str = JOBS_FILE) -> list[tuple[int, str]]:
    """(attempt, Slurm job id) of every submission, oldest first."""
    try:
        text = (logs / name).read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.append((int(parts[0]), parts[1]))
    return out


def _write_attempts(logs: Path, items: list[tuple[int, str]], name: str = JOBS_FILE) -> None:
    write_atomic(logs / name, "".join(f"{n} {i}\n" for n, i in items))


def _exit_fields(logs: Path) -> tuple[int | None, str] | None:
    """stage.exit's (code, reason), None without one."""
    try:
        fields = (
            (logs / "stage.exit").read_text(encoding="utf-8", errors="replace").split(maxsplit=2)
        )
    except OSError:
        return None
    code = int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() else None
    return code, (fields[2].strip() if len(fields) > 2 else "")


# What a job's markers say of its current attempt, for ``job_facts``:
#   none      nothing ran yet (a new or resumed submission)
#   started   a run began (stage.pre-start or stage.running) and wrote no whole exit
#   exited    a run wrote its exit code (stage.exit)
#   walltime  a run stopped at its time limit and submitted the recorded attempt
Markers = Literal["none", "started", "exited", "walltime"]


def job_facts(
    fact: SlurmFact | None,
    attempt: tuple[int, str],
    max_attempts: int,
    *,
    markers: Markers,
    young: bool,
) -> JobFacts:
    """What Slurm says about a job's current attempt, as the boundary's facts. Pure.

    Args:
        fact: Slurm's record of the attempt's job id; None when neither squeue nor sacct
            lists it.
        attempt: The last (attempt, Slurm job id) of ``logs/slurm.jobs``.
        max_attempts: ``max_resubmits + 1``.
        markers: What the job's markers say (``Markers``).
        young: Submitted so recently that sacct may not list it yet.
    """
    shown = f"{attempt[0]}/{max_attempts}"
    if fact is None:  # purged, or sacct has not caught up yet
        return JobFacts(
            queued=young,
            requeued=markers == "walltime" and young,
            attempt=shown,
            settling=young,
        )
    if fact.queued:
        waits = fact.reason or fact.state
        if markers == "walltime":
            unit = Unit(fact.job_id, fact.state, False, reason=f"the time limit; Slurm: {waits}")
            return JobFacts(unit=unit, queued=True, requeued=True, attempt=shown)
        if markers != "none":
            # The same job id ran and Slurm queued it again (--requeue after NODE_FAIL or
            # PREEMPTED): its next run is the next attempt.
            unit = Unit(
                fact.job_id, fact.state, False, reason=f"a requeue by Slurm; Slurm: {waits}"
            )
            return JobFacts(
                unit=unit, queued=True, requeued=True, attempt=f"{attempt[0] + 1}/{max_attempts}"
            )
        unit = Unit(fact.job_id, fact.state, False, reason=f"Slurm: {waits}")
        return JobFacts(unit=unit, queued=True, attempt=shown)
    if fact.live:
        return JobFacts(
            script_alive=True, unit=Unit(fact.job_id, fact.state, True), queued=False, attempt=shown
        )
    unit = Unit(
        fact.job_id, fact.state, False, fact.exit_code, _ended_by(fact, markers), ended=True
    )
    return JobFacts(unit=unit, queued=False, attempt=shown)


def _ended_by(fact: SlurmFact, markers: Markers) -> str:
    """Why Slurm says the job ended, when that is news: TIMEOUT, NODE_FAIL, ... always; a
    FAILED exit only when the script wrote none (otherwise it is the script's own code)."""
    if fact.state in CLUSTER_ENDS:
        return fact.state
    if fact.state != "FAILED" or markers == "exited":
        return ""  # COMPLETED, CANCELLED: nothing Slurm did explains a missing exit marker
    if fact.signal:
        return f"killed by signal {fact.signal} (Slurm: FAILED)"
    return f"exit code {fact.exit_code} (Slurm: FAILED)"


class SlurmExecutor(Executor):
    """Batch jobs on the Slurm cluster whose commands are on PATH."""

    name = "slurm"
    terms = Terms(unit="Slurm job", service="Slurm", driver="the Slurm queue")

    @classmethod
    def describe(cls, execution: Mapping[str, Any]) -> str:
        partition = execution.get("partition")
        where = f"partition {partition}" if partition else "default partition"
        return f"Slurm ({where}, runtime {execution.get('container_runtime') or 'docker'})"

    def preflight(self, plan: Plan) -> None:
        """Secrets must be in the env file (the job reads them there); images must exist."""
        from dotenv import dotenv_values

        values = dotenv_values(plan.env_file) if plan.env_file else {}
        for name in plan.required_env():
            if not values.get(name):
                raise ProctorError(
                    f"{name} must be in the env file {plan.env_file or './.env'} for execution.type "
                    "slurm: Slurm jobs read secrets from it on the node (an exported variable "
                    "would be stored by Slurm)"
                )
        if plan.config.execution.container_runtime == "docker":
            from proctor.launcher.executors.local import docker

            client = docker.connect()
            images = [j.image for j in plan.jobs]
            if plan.deployment:
                images.append(plan.deployment.image)
            docker.require_images(client, images, plan.config.execution.image)

    def render(self, plan: Plan, env: Environment) -> Rendered:
        from proctor.launcher.executors.slurm import scripts

        return scripts.render(plan, env)

    def start(self, folder: Path, tasks: Sequence[str] = ()) -> str:
        folder = folder.resolve()
        names = list(tasks) or sorted(p.parent.name for p in folder.glob(f"*/{SCRIPT}"))
        try:
            held = self._submit(folder, names)
        except BaseException:
            if not tasks:  # a new invocation: leave nothing
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return "Slurm jobs " + ", ".join(held)

    def _submit(self, folder: Path, names: list[str]) -> list[str]:
        held: dict[str, str] = {}
        try:
            for task in names:
                done = commands.run(
                    ["sbatch", "--parsable", "--hold", str(folder / task / SCRIPT), "1"],
                    f"sbatch of task {task} refused",
                )
                try:
                    held[task] = commands.parse_job_id(done.stdout)
                except ValueError as e:
                    raise ProctorError(f"sbatch of task {task}: {e}") from None
            for task, slurm_id in held.items():
                logs = folder / task / "logs"
                _write_attempts(logs, [*attempts(logs), (1, slurm_id)])
            if held and (report := self._submit_report(folder, list(held.values()))):
                held[REPORT] = report
            if held:
                commands.run(["scontrol", "release", ",".join(held.values())], "scontrol release")
        except BaseException:
            commands.scancel(held.values())
            raise
        return [i for task, i in held.items() if task != REPORT]

    def _submit_report(self, folder: Path, after: list[str]) -> str | None:
        """Submit report.sbatch, held, after ``after``; it replaces any earlier report job
        (cancelled: the resumed jobs must end first). None for a folder without one."""
        if not (folder / REPORT).is_file():
            return None  # rendered before report jobs existed
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)  # Slurm writes the job's output there
        earlier = attempts(logs, REPORT_JOBS)
        done = commands.run(
            [
                "sbatch",
                "--parsable",
                "--hold",
                f"--dependency=afterany:{':'.join(after)}",
                str(folder / REPORT),
            ],
            "sbatch of the report job refused",
        )
        try:
            report = commands.parse_job_id(done.stdout)
        except ValueError as e:
            raise ProctorError(f"sbatch of the report job: {e}") from None
        commands.scancel(i for _n, i in earlier)
        _write_attempts(logs, [*earlier, (len(earlier) + 1, report)], REPORT_JOBS)
        return report

    def observe(self, invocations: Sequence[Invocation], *, quick: bool = False) -> Facts:
        current: dict[str, tuple[tuple[int, str], Markers, bool, int]] = {}
        for inv in invocations:
            max_attempts = _max_attempts(inv)
            for job in inv.jobs:
                markers = _markers(job)
                if markers is None:
                    continue  # the markers say how it ended: nothing to ask Slurm
                tries = attempts(job.logs)
                if tries:
                    current[job.id] = (tries[-1], markers, _age_s(job) < YOUNG_S, max_attempts)
        reports = {inv.id: r for inv in invocations if (r := _pending_report(inv))}
        facts: dict[str, SlurmFact] = {}
        error = None
        if (current or reports) and not quick:
            ids = {a[1] for a, _m, _y, _n in current.values()}
            try:
                facts = commands.squeue(ids | set(reports.values()))
                rest = ids - set(facts)
                if rest:
                    facts.update(commands.sacct(rest))
            except ProctorError as e:
                error = str(e)
        jobs = {}
        for job_id, (attempt, markers, young, max_attempts) in current.items():
            if error or quick:
                jobs[job_id] = JobFacts(attempt=f"{attempt[0]}/{max_attempts}")
                continue
            jobs[job_id] = job_facts(
                facts.get(attempt[1]), attempt, max_attempts, markers=markers, young=young
            )
        # What drives a Slurm invocation is the queue, while any of its jobs is in it.
        drivers = {
            inv.id: "the Slurm queue"
            for inv in invocations
            if any(
                (f := jobs.get(job.id)) is not None and (f.queued or f.script_alive or f.requeued)
                for job in inv.jobs
            )
        }
        # Then the report job, until it has written report.html (or left the queue).
        for inv_id, report in reports.items():
            if inv_id not in drivers and report in facts:
                drivers[inv_id] = f"the report job (Slurm job {report}, {facts[report].state})"
        return Facts(jobs, drivers, error, self.terms)

    def stop(
        self, invocation: Invocation, rows: Sequence[JobRow], *, whole: bool, grace: float
    ) -> list[str]:
        ids = [i for row in rows for _n, i in attempts(row.job.logs)]
        reports = attempts(invocation.folder / "logs", REPORT_JOBS) if whole else []
        ids += [i for _n, i in reports]  # the report job too (inv resume submits a new one)
        commands.scancel(ids)
        if reports and _pending_report(invocation) is not None:
            # It will not run: no later status needs to ask Slurm about it.
            logs = invocation.folder / "logs"
            write_atomic(logs / REPORT_EXIT, f"{_stamp()} cancelled {reports[-1][1]}\n")
        deadline = time.monotonic() + grace + 40  # TERM, then SIGKILL after KillWait
        while ids and time.monotonic() < deadline:
            if not commands.squeue(ids):
                break
            time.sleep(0.5)
        return [f"scancel {', '.join(ids)}"] if ids else []

    def busy(self, invocation: Invocation, rows: Sequence[JobRow]) -> dict[str, str]:
        current = {row.job.id: tries[-1][1] for row in rows if (tries := attempts(row.job.logs))}
        live = commands.squeue(current.values()) if current else {}
        return {
            job_id: f"already {live[sid].state} in Slurm (job {sid})"
            for job_id, sid in current.items()
            if sid in live
        }


def _markers(job: JobRef) -> Markers | None:
    """What the job's markers say; None when they settle how it ended, so Slurm is not
    asked: an exit code that is not a signal's, without stage.killed. A signal's exit
    (TERM from Slurm) is asked about: Slurm may have requeued the job or ended it with
    NODE_FAIL, PREEMPTED or TIMEOUT."""
    ended = _exit_fields(job.logs)
    if ended is not None and ended[1].startswith(RESUMABLE):
        return "walltime"
    if ended is not None and ended[0] is not None:
        signalled = ended[0] > 128 and not ended[1]
        if not signalled and not (job.logs / "stage.killed").exists():
            return None
        return "exited"
    if ended is not None or any((job.logs / m).exists() for m in STARTED_MARKERS):
        return "started"
    return "none"


def _pending_report(inv: Invocation) -> str | None:
    """The invocation's last report job id, unless it has run (logs/report.exit names it)."""
    logs = inv.folder / "logs"
    tries = attempts(logs, REPORT_JOBS)
    if not tries:
        return None
    try:
        done = (logs / REPORT_EXIT).read_text(encoding="utf-8").split()
    except OSError:
        done = []
    return None if done[2:3] == [tries[-1][1]] else tries[-1][1]


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _age_s(job: JobRef) -> float:
    try:
        return time.time() - (job.logs / JOBS_FILE).stat().st_mtime
    except OSError:
        return 0.0


def _max_attempts(inv: Invocation) -> int:
    resubmits = inv.execution.get("max_resubmits", 3)
    return resubmits + 1 if isinstance(resubmits, int) and resubmits >= 0 else 1
