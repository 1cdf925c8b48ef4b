"""Jinja2 rendering of the shell scripts: StrictUndefined, every value shell-quoted."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

import proctor
from proctor.launcher.executors.local.docker import (
    LABEL_CONFIG_HASH,
    LABEL_INVOCATION,
    LABEL_JOB,
    LABEL_ROLE,
    LABEL_TASK,
)
from proctor.launcher.run.plan import DATASETS_MOUNT, SANDBOX_MOUNT, SANDBOX_SOCKET, Job, Plan

TEMPLATES = Path(__file__).resolve().parents[4] / "templates"


# The container's main process: runs the task's command, forwards TERM/INT to it, and
# sends it TERM when stdin closes (run.sh feeds stdin a pipe that ends when run.sh does).
SUPERVISE = (
    'sh -c "$1" & child=$!; '
    "trap 'kill -TERM $child 2>/dev/null' TERM INT; "
    "exec 3<&0; { cat <&3 >/dev/null; kill -TERM $child 2>/dev/null; } & "
    "code=0; while kill -0 $child 2>/dev/null; do wait $child; code=$?; done; exit $code"
)


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


def labels(plan: Plan, job: Job) -> list[tuple[str, str]]:
    return [
        (LABEL_INVOCATION, plan.invocation_id),
        (LABEL_JOB, plan.job_id(job)),
        (LABEL_TASK, job.dirname),
        (LABEL_CONFIG_HASH, job.spec.config_hash()),
        (LABEL_ROLE, "task"),
    ]


# The sandbox container's limits (docs/architecture.md, "Code execution"): programs run
# SANDBOX_SLOTS at a time, each as its own uid from SANDBOX_UID_BASE, each with the
# server's per-program rlimits (1 GiB address space by default).
SANDBOX_SLOTS = max(1, min(4, os.cpu_count() or 1))
SANDBOX_UID_BASE = 60000


def sandbox_docker_args() -> list[str]:
    """`docker run` arguments of a job's sandbox container (after --name and labels)."""
    return [
        "--network=none",
        "--read-only",
        "--tmpfs=/tmp:rw,nosuid,nodev,size=256m,mode=1777",
        "--pids-limit=256",
        f"--memory={SANDBOX_SLOTS + 1}g",
        f"--memory-swap={SANDBOX_SLOTS + 1}g",
        f"--cpus={SANDBOX_SLOTS}",
        "--cap-drop=ALL",
        "--cap-add=SETUID",
        "--cap-add=SETGID",
        "--security-opt=no-new-privileges",
        "--user=0:0",
        "--env=HOME=/tmp",
    ]


def sandbox_command(plan: Plan) -> list[str]:
    return [
        "python",
        "-m",
        "proctor.harness.sandbox",
        "serve",
        "--socket",
        SANDBOX_SOCKET,
        "--slots",
        str(SANDBOX_SLOTS),
        "--uid-base",
        str(SANDBOX_UID_BASE),
        "--owner",
        plan.user,
        "--exit-on-eof",
    ]


def render_run(plan: Plan, job: Job, env: Environment | None = None) -> str:
    env = env or environment()
    folder = plan.folder.resolve()
    return env.get_template("task.sh.j2").render(
        job_id=plan.job_id(job),
        task=job.dirname,
        invocation_id=plan.invocation_id,
        version=proctor.__version__,
        task_dir=str(folder / job.dirname),
        container_name=job.container_name,
        env_file=str(plan.env_file) if plan.env_file else "",
        python=sys.executable,
        **_env_context(job.env_vars),
        labels=labels(plan, job),
        user=plan.user,
        network=plan.network,
        dataset_dir=str(job.dataset_dir) if job.dataset_dir else "",
        datasets_mount=DATASETS_MOUNT,
        extra_docker_args=plan.config.execution.extra_docker_args,
        image=job.image,
        command=job.command,
        supervise=SUPERVISE,
        deployment=plan.deployment is not None,
        sandbox=job.sandbox,
        sandbox_name=job.sandbox_name,
        sandbox_labels=[(k, "sandbox" if k == LABEL_ROLE else v) for k, v in labels(plan, job)],
        sandbox_mount=SANDBOX_MOUNT,
        sandbox_args=sandbox_docker_args(),
        sandbox_command=sandbox_command(plan),
    )


def render_run_all(plan: Plan, env: Environment | None = None) -> str:
    env = env or environment()
    return env.get_template("local/run_all.sh.j2").render(
        invocation_id=plan.invocation_id,
        invocation_dir=str(plan.folder.resolve()),
        python=sys.executable,
        mode=plan.config.execution.mode,
        max_parallel=plan.config.execution.max_parallel,
        tasks=[job.dirname for job in plan.jobs],
        deployment=plan.deployment is not None,
    )


def render_deploy(plan: Plan, env: Environment | None = None) -> str:
    env = env or environment()
    dep = plan.deployment
    assert dep is not None
    return env.get_template("deploy.sh.j2").render(
        invocation_id=plan.invocation_id,
        version=proctor.__version__,
        invocation_dir=str(plan.folder.resolve()),
        server_name=plan.server_name,
        health_url=f"http://127.0.0.1:{dep.port}{dep.health_path}",
        startup_timeout=dep.startup_timeout,
        env_file=str(plan.env_file) if plan.env_file else "",
        python=sys.executable,
        **_env_context(dep.env_vars),
        labels=[
            (LABEL_INVOCATION, plan.invocation_id),
            (LABEL_JOB, f"{plan.invocation_id}.deployment"),
            (LABEL_TASK, "deployment"),
            (LABEL_CONFIG_HASH, plan.config.config_hash()),
            (LABEL_ROLE, "deployment"),
        ],
        port=dep.port,
        container_port=dep.container_port or "",  # deploy.sh asks the image when unset
        mounts=plan.server_mounts(),
        extra_docker_args=dep.extra_docker_args,
        image=dep.image,
        command=dep.command or "",
    )


def invocation_record(plan: Plan) -> dict[str, Any]:
    """invocation.yaml: the resolved config (names of secrets only, never values)."""
    return {
        "schema_version": 1,
        "id": plan.invocation_id,
        "created": plan.created.isoformat(timespec="seconds"),
        "proctor_version": proctor.__version__,
        "config_path": str(plan.config_path.resolve()),
        "config_hash": plan.config.config_hash(),
        "env_file": str(plan.env_file) if plan.env_file else None,
        "network": plan.network,
        "deployment": (
            {"container": plan.server_name, "image": plan.deployment.image}
            if plan.deployment
            else None
        ),
        "jobs": [
            {
                "id": plan.job_id(job),
                "index": job.index,
                "task": job.dirname,
                "benchmark": job.spec.benchmark,
                "image": job.image,
                "container": job.container_name,
                "config_hash": job.spec.config_hash(),
            }
            for job in plan.jobs
        ],
        "config": plan.config.model_dump(mode="json"),
    }


def render_files(plan: Plan) -> dict[str, tuple[str, int]]:
    """Every file of the invocation folder: relative path -> (text, mode)."""
    env = environment()
    files = {
        "invocation.yaml": (yaml.safe_dump(invocation_record(plan), sort_keys=False), 0o644),
        "run_all.sh": (render_run_all(plan, env), 0o755),
    }
    if plan.deployment:
        files["deploy.sh"] = (render_deploy(plan, env), 0o755)
    for job in plan.jobs:
        files[f"{job.dirname}/run.sh"] = (render_run(plan, job, env), 0o755)
        files[f"{job.dirname}/task.yaml"] = (job.spec.to_yaml(), 0o644)
    return files
