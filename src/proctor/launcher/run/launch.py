"""`inv run`: config -> plan -> invocation folder -> started detached by its executor."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from proctor.launcher import config as config_mod
from proctor.launcher import envfile, executors
from proctor.launcher.errors import ProctorError
from proctor.launcher.results import export
from proctor.launcher.run.plan import Plan, make_plan
from proctor.launcher.run.render import render_files


@dataclass(frozen=True)
class Launched:
    plan: Plan
    files: dict[str, tuple[str, int]]
    started: bool
    pool: executors.Pool  # the executor that started it knows its driver (inv run --wait)


def prepare(
    config_path: str,
    overrides: list[str] | None = None,
    tasks: list[str] | None = None,
    env_file: str | None = None,
    cwd: Path | None = None,
) -> tuple[Plan, dict[str, tuple[str, int]]]:
    """Validate everything that can be checked without Docker and render every file."""
    cwd = cwd or Path.cwd()
    path = Path(config_path).expanduser()
    path = path if path.is_absolute() else cwd / path
    cfg = config_mod.load(path, overrides)
    env_path = envfile.locate(env_file, cwd)
    out = Path(cfg.execution.output_dir).expanduser()
    if not out.is_absolute():
        cfg.execution.output_dir = str(cwd / out)
    plan = make_plan(cfg, path, tasks=tasks, env_file=env_path)
    env = envfile.environment(env_path)
    envfile.require(plan.required_env(), env, env_path)
    export.preflight(cfg, env)
    _check_datasets(plan)
    return plan, render_files(plan)


def _check_datasets(plan: Plan) -> None:
    """Load the user's own data on the host now, so a bad line stops the run before it starts."""
    from proctor.harness import benchmarks

    for job in plan.jobs:
        if job.custom_command or job.dataset_dir is None:
            continue
        try:
            benchmarks.get(job.spec.benchmark).load(job.spec.params, str(job.dataset_dir))
        except (ValueError, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ProctorError(f"task {job.dirname}: {first}") from None


def launch(
    config_path: str,
    overrides: list[str] | None = None,
    tasks: list[str] | None = None,
    env_file: str | None = None,
    dry_run: bool = False,
) -> Launched:
    """Plan and (unless ``dry_run``) write the invocation folder and start it detached."""
    plan, files = prepare(config_path, overrides, tasks, env_file)
    pool = executors.Pool()
    if dry_run:
        return Launched(plan, files, started=False, pool=pool)
    _check_output_dir(Path(plan.config.execution.output_dir))
    if plan.deployment is None and any(not job.custom_command for job in plan.jobs):
        check_endpoint(plan.config.target.api_endpoint.url or "")
    if plan.deployment is None:  # a judge served by the deployment cannot be probed yet
        for url in dict.fromkeys(job.spec.judge.url for job in plan.jobs if job.spec.judge):
            check_endpoint(url, "the judge's url")
    executor = pool.get(plan.config.execution.type)
    executor.preflight(plan)
    write_folder(plan.folder, files, [job.dirname for job in plan.jobs])
    executor.start(plan.folder)
    return Launched(plan, files, started=True, pool=pool)


def check_endpoint(url: str, key: str = "target.api_endpoint.url", timeout: float = 5.0) -> None:
    """Fail now when nothing answers at the endpoint's address; any HTTP reply will do
    (a 401 or 404 still proves a server is there)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    probe = f"{parts.scheme}://{parts.netloc}/"
    try:
        urllib.request.urlopen(urllib.request.Request(probe, method="GET"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ProctorError(
            f"endpoint {url} is unreachable ({reason}): start the server, "
            f"fix {key}, or use deployment.type: docker"
        ) from None


def _check_output_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProctorError(
            f"execution.output_dir {out} cannot be created ({e.strerror}): "
            "choose a writable folder with -o execution.output_dir=PATH"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ProctorError(
            f"execution.output_dir {out} is not writable: "
            "choose a writable folder with -o execution.output_dir=PATH"
        )


def write_folder(folder: Path, files: dict[str, tuple[str, int]], task_dirs: list[str]) -> None:
    """Write every file into a hidden temp folder, then rename it: never half-made."""
    if folder.exists():
        raise ProctorError(f"invocation folder {folder} already exists; not overwriting it")
    tmp = folder.with_name(f".{folder.name}.tmp")
    try:
        tmp.mkdir()
        for rel, (text, mode) in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(mode)
        for name in task_dirs:
            (tmp / name / "artifacts").mkdir(parents=True, exist_ok=True)
            (tmp / name / "logs").mkdir(parents=True, exist_ok=True)
        tmp.rename(folder)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProctorError(f"cannot write {folder}: {e.strerror or e}") from None


def describe(plan: Plan) -> str:
    """The plan as a table (for --dry-run and for the line after a start)."""
    from tabulate import tabulate  # imported after the start, off the way to it

    rows = [
        [plan.job_id(job), job.dirname, job.spec.benchmark, job.image, job.name]
        for job in plan.jobs
    ]
    return tabulate(rows, headers=["job", "task", "benchmark", "image", "container"])
