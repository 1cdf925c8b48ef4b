"""The Slurm executor's launch part: ``<task>/run.sbatch``, the #SBATCH header over the
shared task body (templates/slurm/run.sbatch.sh.j2). The Slurm keys of the config are read
here and nowhere else."""

from __future__ import annotations

import sys
from typing import Any

from jinja2 import Environment

from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Rendered
from proctor.launcher.executors.local.scripts import SUPERVISE, host_user, labels
from proctor.launcher.executors.slurm.commands import time_limit_seconds
from proctor.launcher.run.plan import DATASETS_MOUNT, Job, Plan
from proctor.launcher.run.render import render_deploy, task_context

SCRIPT = "run.sbatch"
REPORT = "report.sbatch"
WARN_BEFORE_LIMIT_S = 30  # --signal=B:USR1@30: Slurm checks limits about every 30 s
STOP_GRACE_S = 8  # docker/podman stop -t; below the cluster's KillWait


def sbatch_options(plan: Plan, job: Job) -> list[str]:
    """The ``#SBATCH`` lines of one job (values were validated by the config)."""
    ex = plan.config.execution
    task_dir = plan.folder.resolve() / job.dirname
    options = [
        f"--job-name=proctor-{plan.invocation_id}-{job.index}",
        f"--output={task_dir}/logs/slurm-%j.out",
        f"--chdir={task_dir}",
        "--open-mode=append",
        f"--cpus-per-task={ex.cpus_per_task}",
        "--requeue",  # node failure / preemption: Slurm reruns it (the journal resumes)
    ]
    if ex.partition:
        options.append(f"--partition={ex.partition}")
    if ex.account:
        options.append(f"--account={ex.account}")
    if ex.qos:
        options.append(f"--qos={ex.qos}")
    if ex.time_limit:
        options.append(f"--time={ex.time_limit}")
        options.append(f"--signal=B:USR1@{WARN_BEFORE_LIMIT_S}")
    if ex.mem:
        options.append(f"--mem={ex.mem}")
    if ex.gpus_per_task:
        options.append(f"--gpus-per-task={ex.gpus_per_task}")
    return options + list(ex.sbatch_args)


def _sbatch_filter(option: str) -> str:
    """An #SBATCH line's value: sbatch reads it itself, so it must be one plain word."""
    if not option.startswith("-") or any(c.isspace() or c in "'\"\\`$" for c in option):
        raise ProctorError(f"not a plain sbatch option: {option[:80]!r}")
    return option


def render_sbatch(plan: Plan, job: Job, env: Environment) -> str:
    ex = plan.config.execution
    env.filters["sbatch"] = _sbatch_filter
    context: dict[str, Any] = {
        **task_context(plan, job, SCRIPT),
        "sbatch_options": sbatch_options(plan, job),
        "runtime": ex.container_runtime,
        "max_attempts": ex.max_resubmits + 1,
        "time_limit_s": time_limit_seconds(ex.time_limit),
        "stop_grace_s": STOP_GRACE_S,
        "container_name": job.name,
        "labels": labels(plan, job),
        "user": host_user(),
        "dataset_dir": str(job.dataset_dir) if job.dataset_dir else "",
        "datasets_mount": DATASETS_MOUNT,
        "image": job.image,
        "command": job.command,
        "supervise": SUPERVISE,
    }
    return env.get_template("slurm/run.sbatch.sh.j2").render(**context)


def report_options(plan: Plan) -> list[str]:
    """The report job's ``#SBATCH`` lines: where the tasks run, one CPU, their time limit."""
    ex = plan.config.execution
    folder = plan.folder.resolve()
    options = [
        f"--job-name=proctor-{plan.invocation_id}-report",
        f"--output={folder}/logs/report-%j.out",
        f"--chdir={folder}",
        "--open-mode=append",
        "--cpus-per-task=1",
    ]
    options += [
        f"--{key}={value}" for key in ("partition", "account", "qos") if (value := getattr(ex, key))
    ]
    if ex.time_limit:
        options.append(f"--time={ex.time_limit}")
    return options


def render_report(plan: Plan, env: Environment) -> str:
    env.filters["sbatch"] = _sbatch_filter
    return env.get_template("slurm/report.sbatch.sh.j2").render(
        sbatch_options=report_options(plan),
        invocation_dir=str(plan.folder.resolve()),
        python=sys.executable,
        tasks=[job.dirname for job in plan.jobs],
    )


def render(plan: Plan, env: Environment) -> Rendered:
    files = {REPORT: (render_report(plan, env), 0o755)}
    for job in plan.jobs:
        if job.sandbox:
            raise ProctorError(
                f"task {job.dirname}: {job.spec.benchmark} runs the model's code in a sandbox "
                "container, which execution.type slurm does not support yet: run it locally"
            )
        files[f"{job.dirname}/{SCRIPT}"] = (render_sbatch(plan, job, env), 0o755)
        # Without a container the harness reads the data in place (task.yaml says /datasets).
        spec = job.spec
        if job.dataset_dir:
            spec = spec.model_copy(update={"dataset_dir": str(job.dataset_dir)})
        files[f"{job.dirname}/task.host.yaml"] = (spec.to_yaml(), 0o644)
        if plan.deployment:  # the job's own server (see run.sbatch)
            runtime = plan.config.execution.container_runtime
            files[f"{job.dirname}/deploy.sh"] = (
                render_deploy(plan, env, job=job, runtime=runtime),
                0o755,
            )
    return Rendered(files, {}, servers_per_job=True)
