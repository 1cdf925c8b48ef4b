"""From a validated config to a plan: the invocation id, its folder and one Job per task.

Nothing here depends on where the jobs run: the executor (proctor.launcher.executors)
turns a plan into its launch part when the scripts are rendered.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import judged_by
from proctor.harness.taskfile import Endpoint, TaskSpec
from proctor.launcher.config import DockerDeployment, RunConfig, TaskConfig
from proctor.launcher.errors import ProctorError

# exec: the harness must be the process the container's init signals, or docker stop
# ends the `sh -c` wrapper and the harness dies without its graceful stop.
HARNESS_COMMAND = "exec proctor-eval --task-file /proctor/task.yaml --results /results"
DATASETS_MOUNT = "/datasets"
# Benchmarks that run the model's code get a sandbox container beside the task; the two
# share only this folder (logs/../sandbox on the host), which holds the server's socket.
SANDBOX_MOUNT = "/sandbox"
SANDBOX_SOCKET = f"{SANDBOX_MOUNT}/sandbox.sock"


@dataclass(frozen=True)
class Job:
    """One task of an invocation: its folder, its name and what the harness gets."""

    index: int
    dirname: str
    spec: TaskSpec
    image: str
    command: str
    custom_command: bool
    env_vars: dict[str, str]  # name inside the container -> name on the host
    dataset_dir: Path | None
    name: str  # what the executor runs it as: the container's name, the Slurm job name
    sandbox: bool = False  # the benchmark runs the model's code: start a sandbox beside it


@dataclass(frozen=True)
class Plan:
    invocation_id: str
    created: datetime
    folder: Path
    config: RunConfig
    config_path: Path
    env_file: Path | None
    jobs: list[Job] = field(default_factory=list)

    @property
    def deployment(self) -> DockerDeployment | None:
        dep = self.config.deployment
        return dep if isinstance(dep, DockerDeployment) else None

    @property
    def server_name(self) -> str:
        return f"proctor-{self.invocation_id}-server"

    def server_mounts(self) -> list[str]:
        """Deployment mounts with host paths made absolute (relative to the config file)."""
        mounts = []
        for mount in self.deployment.mounts if self.deployment else []:
            host, rest = mount.split(":", 1)
            path = Path(host).expanduser()
            path = path if path.is_absolute() else (self.config_path.parent / path).resolve()
            mounts.append(f"{path}:{rest}")
        return mounts

    def job_id(self, job: Job) -> str:
        return f"{self.invocation_id}.{job.index}"

    def required_env(self) -> list[str]:
        """Every host variable some job or the deployment needs, in a stable order."""
        names = dict.fromkeys(name for job in self.jobs for name in job.env_vars.values())
        names.update(dict.fromkeys(self.deployment.env_vars.values() if self.deployment else []))
        return list(names)


def make_plan(
    config: RunConfig,
    config_path: Path,
    *,
    tasks: list[str] | None = None,
    env_file: Path | None = None,
    now: datetime | None = None,
    invocation_id: str | None = None,
) -> Plan:
    """Select the tasks, name every job and build its TaskSpec. Touches no file."""
    chosen = _select(config.evaluation.tasks, tasks or [], config_path)
    now = now or datetime.now(UTC)
    inv = invocation_id or secrets.token_hex(4)
    out = Path(config.execution.output_dir).expanduser()
    folder = out / f"{now:%Y%m%d-%H%M%S}-{inv}"
    endpoint = config.target.api_endpoint
    counts = Counter(t.name for t in chosen)
    seen: Counter[str] = Counter()
    jobs = []
    for index, task in enumerate(chosen):
        seen[task.name] += 1
        dirname = f"{task.name}.{seen[task.name]}" if counts[task.name] > 1 else task.name
        env_vars = {**config.evaluation.env_vars, **task.env_vars}
        for secret in filter(None, [endpoint.api_key_name, *endpoint.headers.values()]):
            env_vars.setdefault(secret, secret)
        judge = config.task_judge(task) if _judged(task, config) else None
        if judge is not None and judge.api_key_name:  # by name, like the target's key
            env_vars.setdefault(judge.api_key_name, judge.api_key_name)
        dataset_dir = _dataset_dir(task, config_path)
        spec = TaskSpec(
            name=dirname,
            benchmark=task.name,
            endpoint=Endpoint(**endpoint.model_dump()),
            params=config.task_params(task),
            dataset_dir=DATASETS_MOUNT if dataset_dir else None,
            judge=judge.spec() if judge is not None else None,
        )
        sandbox = task.command is None and _needs_sandbox(task.name)
        command = f"{HARNESS_COMMAND} --sandbox {SANDBOX_SOCKET}" if sandbox else HARNESS_COMMAND
        jobs.append(
            Job(
                index=index,
                dirname=dirname,
                spec=spec,
                image=task.container or config.execution.image,
                command=task.command or command,
                custom_command=task.command is not None,
                env_vars=env_vars,
                dataset_dir=dataset_dir,
                name=f"proctor-{inv}-{index}-{_slug(dirname)}",
                sandbox=sandbox,
            )
        )
    return Plan(
        invocation_id=inv,
        created=now,
        folder=folder,
        config=config,
        config_path=config_path,
        env_file=env_file,
        jobs=jobs,
    )


def _select(all_tasks: list[TaskConfig], wanted: list[str], config_path: Path) -> list[TaskConfig]:
    if not wanted:
        return list(all_tasks)
    names = [t.name for t in all_tasks]
    for name in wanted:
        if name not in names:
            raise ProctorError(
                f"unknown --task {name!r}: {config_path} has {', '.join(dict.fromkeys(names))}"
            )
    return [t for t in all_tasks if t.name in wanted]


def _dataset_dir(task: TaskConfig, config_path: Path) -> Path | None:
    if task.dataset_dir is None:
        return None
    path = Path(task.dataset_dir).expanduser()
    # Relative to the config file, as docker compose does, so a config travels with its data.
    path = (path if path.is_absolute() else config_path.parent / path).resolve()
    if not path.is_dir():
        raise ProctorError(
            f"{config_path}: evaluation.tasks.{task.name}.dataset_dir: no such directory: {path}"
        )
    return path


def _judged(task: TaskConfig, config: RunConfig) -> bool:
    """Whether the task's benchmark is judge-scored (custom commands never are)."""
    if task.command is not None or task.container is not None:
        return False
    try:
        return judged_by(benchmarks.get(task.name), config.task_params(task))
    except KeyError:
        return False


def _needs_sandbox(benchmark: str) -> bool:
    try:
        return bool(getattr(benchmarks.get(benchmark), "needs_sandbox", False))
    except KeyError:
        return False


def _slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", name)
