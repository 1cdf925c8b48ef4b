"""The local executor's launch part: run.sh (the shared task body with the task in a
Docker container) and run_all.sh (starts the tasks in parallel or one after the other).

The Docker settings of the config (``execution.network``, ``execution.extra_docker_args``)
are read here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jinja2 import Environment

from proctor.launcher.config import ApiEndpoint
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Rendered
from proctor.launcher.run.labels import (
    LABEL_CONFIG_HASH,
    LABEL_INVOCATION,
    LABEL_JOB,
    LABEL_ROLE,
    LABEL_TASK,
)
from proctor.launcher.run.plan import DATASETS_MOUNT, SANDBOX_MOUNT, SANDBOX_SOCKET, Job, Plan
from proctor.launcher.run.render import environment, task_context

RUN_SH = "run.sh"
RUN_ALL = "run_all.sh"

# The container's main process: runs the task's command, forwards TERM/INT to it, and
# sends it TERM when stdin closes (run.sh feeds stdin a pipe that ends when run.sh does).
SUPERVISE = (
    'sh -c "$1" & child=$!; '
    "trap 'kill -TERM $child 2>/dev/null' TERM INT; "
    "exec 3<&0; { cat <&3 >/dev/null; kill -TERM $child 2>/dev/null; } & "
    # wait first: a child that exited before the loop may already be reaped by sh (kill -0
    # then fails), and only wait still knows its status; a signal ends a wait early, so
    # wait again while the child lives.
    "wait $child; code=$?; while kill -0 $child 2>/dev/null; do wait $child; code=$?; done; "
    "exit $code"
)

# The sandbox container's limits (docs/architecture.md, "Code execution"): programs run
# SANDBOX_SLOTS at a time, each as its own uid from SANDBOX_UID_BASE, each with the
# server's per-program rlimits (1 GiB address space by default).
SANDBOX_SLOTS = max(1, min(4, os.cpu_count() or 1))
SANDBOX_UID_BASE = 60000


def host_user() -> str:
    """``uid:gid`` the containers run as, so what they write belongs to the user."""
    return f"{os.getuid()}:{os.getgid()}"


def network(plan: Plan) -> str:
    """The Docker network of the task containers: ``execution.network`` with auto resolved.

    A bridged container cannot reach this machine's loopback, where the endpoint or a
    judge may listen: auto then means host, and an explicit bridge is refused.
    """
    config = plan.config
    endpoint = config.target.api_endpoint
    judges = dict.fromkeys(job.spec.judge.url for job in plan.jobs if job.spec.judge)
    loopback_judge = next(
        (url for url in judges if ApiEndpoint.model_construct(url=url).is_loopback()), None
    )
    chosen = config.execution.network
    if chosen == "auto":
        return "host" if endpoint.is_loopback() or loopback_judge else "bridge"
    if chosen == "bridge" and endpoint.is_loopback() and config.deployment.type == "none":
        raise ProctorError(
            f"{plan.config_path}: execution.network is bridge, but target.api_endpoint.url "
            f"{endpoint.url} is this machine's loopback, which a bridged container cannot "
            "reach: use network auto or host"
        )
    if chosen == "bridge" and loopback_judge is not None:
        raise ProctorError(
            f"{plan.config_path}: execution.network is bridge, but the judge's url "
            f"{loopback_judge} is this machine's loopback, which a bridged container "
            "cannot reach: use network auto or host"
        )
    return chosen


def labels(plan: Plan, job: Job) -> list[tuple[str, str]]:
    return [
        (LABEL_INVOCATION, plan.invocation_id),
        (LABEL_JOB, plan.job_id(job)),
        (LABEL_TASK, job.dirname),
        (LABEL_CONFIG_HASH, job.spec.config_hash()),
        (LABEL_ROLE, "task"),
    ]


def sandbox_name(job: Job) -> str:
    return f"{job.name}-sandbox"


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


def sandbox_command(user: str) -> list[str]:
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
        user,
        "--exit-on-eof",
    ]


def render_run(plan: Plan, job: Job, env: Environment | None = None, net: str | None = None) -> str:
    """A job's run.sh."""
    env = env or environment()
    user = host_user()
    context: dict[str, Any] = {
        **task_context(plan, job, RUN_SH),
        "container_name": job.name,
        "labels": labels(plan, job),
        "user": user,
        "network": net or network(plan),
        "dataset_dir": str(job.dataset_dir) if job.dataset_dir else "",
        "datasets_mount": DATASETS_MOUNT,
        "extra_docker_args": plan.config.execution.extra_docker_args,
        "image": job.image,
        "command": job.command,
        "supervise": SUPERVISE,
        "sandbox": job.sandbox,
        "sandbox_name": sandbox_name(job),
        "sandbox_labels": [(k, "sandbox" if k == LABEL_ROLE else v) for k, v in labels(plan, job)],
        "sandbox_mount": SANDBOX_MOUNT,
        "sandbox_args": sandbox_docker_args(),
        "sandbox_command": sandbox_command(user),
    }
    return env.get_template("local/run.sh.j2").render(**context)


def render_run_all(plan: Plan, env: Environment | None = None) -> str:
    """The invocation's run_all.sh: every task's run.sh, in its own process group."""
    env = env or environment()
    return env.get_template("local/run_all.sh.j2").render(
        invocation_id=plan.invocation_id,
        invocation_dir=str(Path(plan.folder).resolve()),
        python=sys.executable,
        mode=plan.config.execution.mode,
        max_parallel=plan.config.execution.max_parallel,
        tasks=[job.dirname for job in plan.jobs],
        deployment=plan.deployment is not None,
        auto_export=plan.config.execution.auto_export,
    )


def render(plan: Plan, env: Environment) -> Rendered:
    """run_all.sh and every run.sh; invocation.yaml records the resolved network."""
    net = network(plan)
    files = {RUN_ALL: (render_run_all(plan, env), 0o755)}
    for job in plan.jobs:
        files[f"{job.dirname}/{RUN_SH}"] = (render_run(plan, job, env, net), 0o755)
    return Rendered(files, {"network": net})
