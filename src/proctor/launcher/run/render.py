"""Jinja2 rendering of the invocation folder: StrictUndefined, every value shell-quoted.

Shared by every executor: invocation.yaml, task.yaml, the deployment's deploy.sh and
the context of the shared task body (templates/task.sh.j2: lock, pid file, markers,
.env loading, deployment wait, finish). The executor renders its launch part (each
task's script, extending the shared body, and what starts them) through ``render``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

import proctor
from proctor.harness.exchange import InvocationRecord, JobRecord
from proctor.launcher import TEMPLATES, executors
from proctor.launcher.run.labels import (
    LABEL_CONFIG_HASH,
    LABEL_INVOCATION,
    LABEL_JOB,
    LABEL_ROLE,
    LABEL_TASK,
)
from proctor.launcher.run.plan import Job, Plan


def _quote(value: Any) -> str:
    return shlex.quote("" if value is None else str(value))


def _quote_words(values: Iterable[Any]) -> str:
    return " ".join(_quote(v) for v in values)


def environment(templates: Path = TEMPLATES) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["q"] = _quote
    env.filters["qwords"] = _quote_words
    return env


def _env_context(env_vars: dict[str, str]) -> dict[str, Any]:
    """What a template needs to pass ``env_vars`` (inside name -> host name) by name only."""
    return {
        "env_names": list(dict.fromkeys(env_vars.values())),
        "env_renames": [(inner, outer) for inner, outer in env_vars.items() if inner != outer],
        "env_inner": list(env_vars),
    }


def task_context(plan: Plan, job: Job, script: str) -> dict[str, Any]:
    """What the shared task body (templates/task.sh.j2) needs of one job.

    Args:
        plan: The invocation.
        job: The job.
        script: The file name the executor renders it as (run.sh, run.sbatch).
    """
    return {
        "job_id": plan.job_id(job),
        "task": job.dirname,
        "invocation_id": plan.invocation_id,
        "version": proctor.__version__,
        "script": script,
        "task_dir": str(plan.folder.resolve() / job.dirname),
        "env_file": str(plan.env_file) if plan.env_file else "",
        "python": sys.executable,
        "deployment": plan.deployment is not None,
        **_env_context(job.env_vars),
    }


# deploy.sh stop: docker/podman stop -t. A job's own server is stopped after its task, all
# within the executor's grace before SIGKILL (Slurm's KillWait), so it gets less.
SERVER_STOP_S = 10
JOB_SERVER_STOP_S = 3


def render_deploy(
    plan: Plan, env: Environment | None = None, *, job: Job | None = None, runtime: str = "docker"
) -> str:
    """deploy.sh: the invocation's one model server, or with ``job`` that job's own (its
    folder's ``deploy.sh``, on a port chosen free when it starts, with ``runtime``)."""
    env = env or environment()
    dep = plan.deployment
    assert dep is not None
    folder = plan.folder.resolve()
    port: int | str
    if job is None:
        server_name, logs_dir = plan.server_name, folder / "deployment" / "logs"
        deploy_log, port, stop_s = logs_dir / "deploy.log", dep.port, SERVER_STOP_S
        job_label, task_label = f"{plan.invocation_id}.deployment", "deployment"
    else:
        task_dir = folder / job.dirname
        server_name, logs_dir = f"{job.name}-server", task_dir / "deployment" / "logs"
        # start/stop say what they do in the job's own log; the port is chosen at start.
        deploy_log, port, stop_s = task_dir / "logs" / "stdout.log", "", JOB_SERVER_STOP_S
        job_label, task_label = plan.job_id(job), job.dirname
    return env.get_template("deploy.sh.j2").render(
        invocation_id=plan.invocation_id,
        version=proctor.__version__,
        invocation_dir=str(folder),
        per_job=job is not None,
        runtime=runtime,
        server_name=server_name,
        logs_dir=str(logs_dir),
        deploy_log=str(deploy_log),
        health_path=dep.health_path,
        startup_timeout=dep.startup_timeout,
        stop_timeout=stop_s,
        env_file=str(plan.env_file) if plan.env_file else "",
        python=sys.executable,
        **_env_context(dep.env_vars),
        labels=[
            (LABEL_INVOCATION, plan.invocation_id),
            (LABEL_JOB, job_label),
            (LABEL_TASK, task_label),
            (LABEL_CONFIG_HASH, plan.config.config_hash()),
            (LABEL_ROLE, "deployment"),
        ],
        port=port,
        container_port=dep.container_port or "",  # deploy.sh asks the image when unset
        fallback_port=dep.port,
        mounts=plan.server_mounts(),
        extra_docker_args=dep.extra_docker_args,
        image=dep.image,
        command=dep.command or "",
    )


def invocation_record(
    plan: Plan, executor_record: dict[str, Any], *, per_job: bool = False
) -> dict[str, Any]:
    """invocation.yaml (an InvocationRecord): the resolved config (names of secrets only,
    never values); the executor's keys (local: network) come right after env_file."""
    record = InvocationRecord(
        id=plan.invocation_id,
        created=plan.created.isoformat(timespec="seconds"),
        proctor_version=proctor.__version__,
        config_path=str(plan.config_path.resolve()),
        config_hash=plan.config.config_hash(),
        env_file=str(plan.env_file) if plan.env_file else None,
        deployment=_deployment_record(plan, per_job),
        jobs=[
            JobRecord(
                id=plan.job_id(job),
                index=job.index,
                task=job.dirname,
                benchmark=job.spec.benchmark,
                image=job.image,
                container=job.name,
                config_hash=job.spec.config_hash(),
            )
            for job in plan.jobs
        ],
        config=plan.config.model_dump(mode="json"),
    ).model_dump(mode="json")
    at = list(record).index("env_file") + 1
    items = list(record.items())
    return dict(items[:at] + list(executor_record.items()) + items[at:])


def _deployment_record(plan: Plan, per_job: bool) -> dict[str, Any] | None:
    if plan.deployment is None:
        return None
    if per_job:  # every job starts its own (named after it, "-server"), on a port of its node
        return {"container": None, "image": plan.deployment.image, "per_job": True}
    return {"container": plan.server_name, "image": plan.deployment.image}


def render_files(plan: Plan) -> dict[str, tuple[str, int]]:
    """Every file of the invocation folder: relative path -> (text, mode)."""
    env = environment()
    launch = executors.Pool().get(plan.config.execution.type).render(plan, env)
    record = invocation_record(plan, launch.record, per_job=launch.servers_per_job)
    files = {"invocation.yaml": (yaml.safe_dump(record, sort_keys=False), 0o644)}
    # Invocation-level scripts first, then each task's folder: the order --dry-run prints.
    files.update({rel: f for rel, f in launch.files.items() if "/" not in rel})
    if plan.deployment and not launch.servers_per_job:
        files["deploy.sh"] = (render_deploy(plan, env), 0o755)
    for job in plan.jobs:
        prefix = f"{job.dirname}/"
        files.update({rel: f for rel, f in launch.files.items() if rel.startswith(prefix)})
        files[f"{prefix}task.yaml"] = (job.spec.to_yaml(), 0o644)
    files.update({rel: f for rel, f in launch.files.items() if rel not in files})
    return files
