"""The executor boundary: what runs a rendered invocation somewhere, and nothing else.

An executor is where the jobs run: Docker on this host (``local``), a Slurm cluster. It
checks what it needs before anything is written (``preflight``), renders its launch part
of the scripts (``render``), starts them (``start``), reports what it sees of every job of
some invocations in one look (``observe``), stops jobs (``stop``) and says which jobs
cannot be started again right now (``busy``).

Everything else is shared and never asks which executor runs a job: the config and the
plan, the shared task body of the scripts (lock, pid file, stage markers, .env loading,
deployment wait, finish), the harness and the files it writes, the state derivation
(``proctor.launcher.jobs.status.derive``, one pure function fed the facts below plus the
markers), reports and comparisons. An executor reports facts in its own words (a
container's ``exited``, Slurm's ``TIMEOUT``); it never decides a job's state.

The facts are small frozen value objects, built from one listing per call (one Docker
list call by label; for Slurm one ``squeue`` and one ``sacct``), in the spirit of
docker-compose's ``Container.from_ps``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from jinja2 import Environment

    from proctor.launcher.jobs.invocations import Invocation
    from proctor.launcher.jobs.status import JobRow
    from proctor.launcher.run.plan import Plan


@dataclass(frozen=True)
class Terms:
    """How an executor's things are named in reasons a person reads."""

    unit: str = "container"  # what runs one job's task: "container", "Slurm job"
    service: str = "Docker"  # who is asked about units: "Docker", "Slurm"
    driver: str = "run_all.sh"  # what starts queued jobs: "run_all.sh", "the Slurm queue"


@dataclass(frozen=True)
class Unit:
    """What runs one job's task on the executor, as its one listing shows it.

    Locally the task's container; under Slurm the job's allocation.
    """

    name: str  # the container's name, the Slurm job id
    state: str  # in the executor's words: Docker's running/exited, Slurm's PENDING/TIMEOUT
    # Holds a running process, or is being set up to run one now (Docker's "created"). A
    # job waiting in a queue is not alive: its JobFacts say queued.
    alive: bool
    exit_code: int | None = None
    reason: str = ""  # why it waits or ended, in the executor's words (Priority, TIMEOUT)
    # It has ended (an exited container, a Slurm job in sacct). An ended unit with a reason
    # was ended by the service itself (Slurm's TIMEOUT, NODE_FAIL): the job failed so.
    ended: bool = False


@dataclass(frozen=True)
class JobFacts:
    """What an executor says about one job at one moment."""

    script_alive: bool = False  # the job's script (run.sh, the batch script) is running
    unit: Unit | None = None  # None: no unit of this job is known to the executor
    queued: bool | None = None  # something live will start it (a driver, a queue); None: unknown
    requeued: bool = False  # a new attempt is queued and has not started yet (a resubmission)
    attempt: str = ""  # "2/4" where the executor resubmits jobs; "" otherwise
    # No unit is listed, but the service's records lag (a Slurm job just submitted or just
    # ended may be missing from sacct for seconds): absence says nothing yet.
    settling: bool = False


@dataclass(frozen=True)
class Facts:
    """One executor's answer for some invocations, from one look.

    Attributes:
        jobs: Facts by job id; a job left out was not seen at all.
        drivers: Invocation id -> what still drives it, for a person
            ("run_all.sh (pid 4711)"); an invocation left out has nothing driving it.
        error: Set when the executor's service did not answer (one line saying how to fix
            it): units are then unknown, the other facts still hold.
        terms: How this executor names its things.
    """

    jobs: dict[str, JobFacts] = field(default_factory=dict)
    drivers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    terms: Terms = field(default_factory=Terms)


@dataclass(frozen=True)
class Rendered:
    """An executor's part of an invocation folder.

    Attributes:
        files: Relative path -> (text, mode), e.g. ``run_all.sh`` and ``<task>/run.sh``.
        record: Top-level keys the executor adds to invocation.yaml (plain data).
        servers_per_job: With a deployment, each job starts its own model server (its
            folder's ``deploy.sh``, among ``files``): no invocation-level deploy.sh.
    """

    files: dict[str, tuple[str, int]]
    record: dict[str, Any] = field(default_factory=dict)
    servers_per_job: bool = False


class Executor(ABC):
    """What every executor must do, and nothing more (module docstring).

    Methods that take invocations or rows get them for one executor's jobs only.
    """

    name: ClassVar[str]  # the ``execution.type`` it is registered under
    terms: ClassVar[Terms] = Terms()
    wake_s: ClassVar[float] = 2.0  # how often `driving` may be asked while `--wait` waits

    def driving(self, invocation: Invocation) -> bool:
        """Whether something still drives ``invocation``: ``inv run --wait`` asks this every
        ``wake_s`` to notice the end soon after it happens. An executor that can tell more
        cheaply than by a full look overrides it (and ``wake_s``)."""
        return invocation.id in self.observe([invocation]).drivers

    def wait_driver(self, invocation: Invocation, seconds: float) -> bool:
        """Wait up to ``seconds`` for the driver that ``start`` started for ``invocation``
        in this process to exit, and say True; False when this process started none (or
        its end was already seen), and the caller asks ``driving`` instead. An executor
        whose driver is a child of this process overrides it: the kernel says at once
        when a child exits, with no look."""
        return False

    @classmethod
    def describe(cls, execution: Mapping[str, Any]) -> str:
        """Where an invocation runs, for the `inv status` header, from the ``execution``
        section its invocation.yaml recorded (e.g. ``parallel``, ``Slurm, partition gpu``)."""
        return cls.name

    @abstractmethod
    def preflight(self, plan: Plan) -> None:
        """Check, before anything is written, that the plan can start here.

        Raises:
            ProctorError: One line naming what is missing and how to fix it.
        """

    @abstractmethod
    def render(self, plan: Plan, env: Environment) -> Rendered:
        """The launch part of the scripts: each task's script (extending the shared task
        body, templates/task.sh.j2) and whatever starts them. Touches no file.

        Raises:
            ProctorError: The config asks for something this executor cannot do.
        """

    @abstractmethod
    def start(self, folder: Path, tasks: Sequence[str] = ()) -> str:
        """Start an invocation's tasks (default all), detached; say what was started.

        The folder is complete and its jobs' markers of earlier attempts are gone.
        Returns a short description for a person, e.g. ``run_all.sh pid 4711``.
        """

    @abstractmethod
    def observe(self, invocations: Sequence[Invocation], *, quick: bool = False) -> Facts:
        """Facts about every job of ``invocations``, from ONE look at the service.

        Args:
            invocations: Invocations this executor runs.
            quick: Only what is known without asking the service (Docker, Slurm); units
                are then unknown. For reports, which need no container states.
        """

    @abstractmethod
    def stop(
        self, invocation: Invocation, rows: Sequence[JobRow], *, whole: bool, grace: float
    ) -> list[str]:
        """Stop these jobs (already marked killed): SIGTERM, then SIGKILL after ``grace``.

        With ``whole``, also stop what drives the invocation and everything else of it
        (its model server). Stopping what is already gone is fine; calling it again is
        harmless. Returns lines for a person about what was stopped beyond the jobs.
        """

    @abstractmethod
    def busy(self, invocation: Invocation, rows: Sequence[JobRow]) -> dict[str, str]:
        """Why each of these jobs cannot be started again now, by job id.

        A job is busy when it is queued already (a live driver or the scheduler will run
        it) or an earlier run of it still holds on. Jobs left out may be started. Jobs
        that RUNNING or STARTING are refused by the caller and never passed here.

        Raises:
            ProctorError: Nothing of the invocation can be started again now (its
                scripts are missing; locally, a driver that owns the model server runs).
        """
