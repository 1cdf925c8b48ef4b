"""``execution.type: local``: every task in a Docker container on this host.

run_all.sh (the driver, started detached in its own session) runs each task's run.sh in
its own process group; run.sh runs the task's container. What this executor knows lives
in this package: Docker (``docker``: the only module importing the SDK), host processes
(``processes``: pid files, /proc, process groups) and the launch part of the scripts
(``scripts``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Executor, Facts, JobFacts, Rendered, Terms, Unit
from proctor.launcher.executors.local import docker, processes
from proctor.launcher.run.labels import LABEL_INVOCATION

if TYPE_CHECKING:
    from jinja2 import Environment

    from proctor.launcher.jobs.invocations import Invocation
    from proctor.launcher.jobs.status import JobRow
    from proctor.launcher.run.plan import Plan

RUN_LOCK = "run.lock"  # held by run.sh (templates/task.sh.j2) for its whole life
SETTLE_S = 3.0  # how long a script gets to finish by itself once its container is gone


class LocalExecutor(Executor):
    """Docker on this host, driven by run_all.sh."""

    name = "local"
    terms = Terms(unit="container", service="Docker", driver="run_all.sh")

    @classmethod
    def describe(cls, execution: Mapping[str, Any]) -> str:
        return str(execution.get("mode") or "parallel")

    def __init__(self, client: Any = None) -> None:
        """Args: client: a Docker client (default: connect on first need)."""
        self._client = client
        self._down: str | None = None  # why connecting failed, so it is tried once
        self._started: dict[Path, subprocess.Popen[bytes]] = {}  # run_all.sh by folder

    def client(self) -> Any:
        """The Docker client, connected once; ProctorError saying how to fix it."""
        if self._client is None:
            if self._down is not None:
                raise ProctorError(self._down)
            try:
                self._client = docker.connect()
            except ProctorError as e:
                self._down = str(e)
                raise
        return self._client

    # -- launching ---------------------------------------------------------------------

    def preflight(self, plan: Plan) -> None:
        images = [job.image for job in plan.jobs]
        if plan.deployment:
            images.append(plan.deployment.image)
        labels = docker.require_images(self.client(), images, plan.config.execution.image)
        if warning := stale_harness(labels):
            print(f"proctor: warning: {warning}", file=sys.stderr)

    def render(self, plan: Plan, env: Environment) -> Rendered:
        # Imported here: rendering needs the config and Jinja, which status never does.
        from proctor.launcher.executors.local import scripts

        return scripts.render(plan, env)

    def start(self, folder: Path, tasks: Sequence[str] = ()) -> str:
        """Start run_all.sh (for ``tasks``, default all) in its own session, detached."""
        folder = folder.resolve()
        with open(folder / "run_all.log", "ab") as log:
            proc = subprocess.Popen(
                ["bash", str(folder / processes.RUN_ALL), *tasks],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        # run_all.sh writes this too, once bash is up; until then status must not think
        # the driver is gone. A new session: its pid is its process group.
        (folder / "run_all.pid").write_text(f"{proc.pid} {proc.pid}\n", encoding="utf-8")
        self._started[folder] = proc
        return f"run_all.sh pid {proc.pid}"

    def wait_driver(self, invocation: Invocation, seconds: float) -> bool:
        proc = self._started.pop(invocation.folder.resolve(), None)
        if proc is None:
            return False
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self._started[invocation.folder.resolve()] = proc
        return True

    # -- observing ---------------------------------------------------------------------

    def observe(self, invocations: Sequence[Invocation], *, quick: bool = False) -> Facts:
        """Scripts from their pid files, drivers from one /proc pass, containers from ONE
        Docker list call (filtered on the invocation when there is only one)."""
        # Drivers first: a driver found gone means what is seen next is its jobs' last word.
        live = processes.all_drivers()
        units: dict[str, Unit] = {}
        error = None
        if not quick:
            try:
                only = {LABEL_INVOCATION: invocations[0].id} if len(invocations) == 1 else {}
                for c in docker.list_containers(self.client(), **only):
                    # Prefer a live container when an old one with the same label lingers.
                    # A code benchmark's sandbox carries its job's label too: only the
                    # task's own container speaks for the job.
                    if c.role == "task" and c.job and (c.job not in units or c.alive):
                        units[c.job] = Unit(
                            c.name, c.state, c.alive, c.exit_code, ended=not c.alive
                        )
            except ProctorError as e:
                error = str(e)
        jobs: dict[str, JobFacts] = {}
        drivers: dict[str, str] = {}
        for inv in invocations:
            running = processes.drivers(inv.folder, live)
            if running:
                drivers[inv.id] = _driver_text(running)
            for job in inv.jobs:
                jobs[job.id] = JobFacts(
                    script_alive=processes.script_alive(job.logs / "script.pid") is not None,
                    unit=units.get(job.id),
                    queued=processes.queued(job.task, running),
                )
        return Facts(jobs, drivers, error, self.terms)

    wake_s = 0.1  # one pass over /proc (about 6 ms with a hundred processes)

    def driving(self, invocation: Invocation) -> bool:
        return bool(processes.drivers(invocation.folder))

    def busy(self, invocation: Invocation, rows: Sequence[JobRow]) -> dict[str, str]:
        """Queued by a live run_all.sh, or an earlier run.sh still holds its run.lock.

        Raises:
            ProctorError: run_all.sh is missing, or a run_all.sh that owns the model
                server runs: it would stop the server under the new jobs.
        """
        from filelock import FileLock, Timeout

        if not (invocation.folder / processes.RUN_ALL).is_file():
            raise ProctorError(
                f"{invocation.folder}/{processes.RUN_ALL} is missing: "
                "this invocation cannot be resumed"
            )
        running = processes.drivers(invocation.folder)
        if rows and invocation.deployment and running:
            raise ProctorError(
                f"the model server of {invocation.id} belongs to its running "
                f"{_driver_text(running)}, which stops it when it ends: wait for it, "
                f"or inv kill {invocation.id}, then resume"
            )
        out = {}
        for row in rows:
            if row.status.state == "PENDING" and processes.queued(row.job.task, running):
                out[row.job.id] = f"already queued by {_driver_text(running)}"
                continue
            try:
                with FileLock(str(row.job.logs / RUN_LOCK), timeout=0):
                    pass
            except Timeout:
                out[row.job.id] = f"already running (its {RUN_LOCK} is held)"
            except OSError:
                pass
        return out

    # -- stopping ----------------------------------------------------------------------

    def stop(
        self, invocation: Invocation, rows: Sequence[JobRow], *, whole: bool, grace: float
    ) -> list[str]:
        """Drivers first (nothing more may start), then containers by label (docker stop:
        SIGTERM, grace, SIGKILL), then what is left of the scripts' process groups."""
        notes = []
        drivers = processes.drivers(invocation.folder) if whole else []
        for driver in drivers:
            processes.signal_script(driver, signal.SIGTERM)
        if drivers:
            pids = ", ".join(str(d.pid) for d in drivers)
            notes.append(f"ended run_all.sh of {invocation.id} (pid {pids})")
        try:
            stopped = self._stop_containers(invocation, {r.job.id for r in rows}, whole, grace)
            own = {r.obs.unit.name for r in rows if r.obs.unit is not None}
            others = [name for name in stopped if name not in own]
            if others:
                notes.append(f"stopped {', '.join(others)}")
        except ProctorError as e:
            if rows:
                notes.append(f"warning: containers not stopped: {e}")
        alive = [p for r in rows if (p := processes.script_alive(r.job.logs / "script.pid"))]
        left = processes.wait_gone(alive, SETTLE_S)
        processes.terminate(left + processes.wait_gone(drivers, 0), grace)
        return notes

    def _stop_containers(
        self, invocation: Invocation, job_ids: set[str], whole: bool, grace: float
    ) -> list[str]:
        """The jobs' containers, and for a whole invocation every other one (its server)."""
        client = self.client()
        found = docker.list_containers(client, **{LABEL_INVOCATION: invocation.id})
        tasks = [c for c in found if c.alive and c.job in job_ids]
        stopped = docker.stop_containers(client, tasks, grace)
        if whole:
            rest = [c for c in found if c.alive and c not in tasks]
            stopped += docker.stop_containers(client, rest, grace)
        return stopped


def _driver_text(running: list[processes.Process]) -> str:
    return f"run_all.sh (pid {', '.join(str(d.pid) for d in running)})"


def stale_harness(
    labels: Mapping[str, Mapping[str, str]], repo_root: Path | None = None
) -> str | None:
    """Why a proctor harness image among ``labels`` (image -> its labels) would run other
    code than this checkout's (built before an edit, or from another checkout); None when
    it matches or cannot tell (an image built before images carried SOURCE_LABEL)."""
    from proctor.launcher import TEMPLATES
    from proctor.launcher import images as images_mod

    built_from = {
        image: found
        for image, image_labels in labels.items()
        if image.startswith(images_mod.HARNESS_REPOSITORY + ":")
        and (found := image_labels.get(images_mod.SOURCE_LABEL))
    }
    if not built_from:
        return None
    try:
        here = images_mod.source_hash(repo_root or TEMPLATES.parent)
    except OSError:  # not a checkout (an installed launcher): nothing to compare with
        return None
    for image, source in built_from.items():
        if source != here:
            return (
                f"{image} was built from other harness sources than this checkout's "
                "(an edit since `inv image`?): it runs the code it was built with; "
                "`inv image` rebuilds it"
            )
    return None
