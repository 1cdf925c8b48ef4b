"""proctor's command line: `inv --list`. Thin adapters over proctor.launcher."""

from __future__ import annotations

import math
import signal
import sys

from invoke import Context, Exit, task

from proctor.launcher.cli import optional_positional
from proctor.launcher.errors import ProctorError

ID_HELP = "invocation id (a unique prefix is enough) or job (<inv>.<n> or <inv>/<task>)"
OUTPUTS_HELP = "folder of invocations (default ./outputs)"

# `inv status | head` ends quietly, as other command-line tools do, not with a traceback.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _fail(error: ProctorError) -> Exit:
    return Exit(f"proctor: {error}", code=2)


@task(
    iterable=["override", "task"],
    help={
        "config": "run config YAML (e.g. configs/quickstart.yaml)",
        "override": "dotted.key=value over the config, value parsed as YAML; repeatable "
        "(tasks by name: evaluation.tasks.gsm8k.params.limit_samples=5)",
        "task": "run only this task of the config; repeatable",
        "env-file": "file of secrets by name (default ./.env when present)",
        "dry-run": "print the plan and the rendered scripts; write and start nothing",
        "wait": "stay in the foreground with a live status, then print the report; "
        "exit 1 if a job did not succeed",
    },
)
def run(c, config=None, override=None, task=None, env_file=None, dry_run=False, wait=False):
    """Run an evaluation: render scripts into outputs/ and start them detached."""
    from proctor.launcher.run.launch import describe, launch

    if not config:
        raise Exit("proctor: inv run needs --config FILE (e.g. configs/example.yaml)", code=2)
    try:
        launched = launch(config, override, task, env_file, dry_run=dry_run)
    except ProctorError as e:
        raise _fail(e) from None
    plan = launched.plan
    if dry_run:
        print(f"dry run: invocation {plan.invocation_id} would be written to {plan.folder}\n")
        print(describe(plan))
        for rel, (text, _mode) in launched.files.items():
            if rel.endswith((".sh", ".sbatch")):
                print(f"\n# ---- {rel} ----\n{text}", end="")
        return
    print(describe(plan))
    print(f"\ninvocation {plan.invocation_id} started in {plan.folder}")
    print(f"  inv status {plan.invocation_id}     inv logs {plan.invocation_id} --follow")
    print(f"  inv kill {plan.invocation_id}       inv resume --invocation {plan.invocation_id}")
    if wait:
        _wait(plan.folder, plan.invocation_id, launched.pool)


def _wait(folder, invocation_id, pool=None):
    from proctor.launcher.run import foreground

    try:
        succeeded = foreground.follow(folder, pool=pool)
    except ProctorError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        raise Exit(
            f"\nproctor: stopped waiting; invocation {invocation_id} runs on (inv status {invocation_id})",
            code=130,
        ) from None
    from proctor.harness.quickexit import exit_now

    # Everything is written and printed: out at once, not through the interpreter's
    # teardown (about 0.1 s that every `inv run --wait` would wait for).
    if not succeeded:
        print(f"proctor: not every job of {invocation_id} succeeded (see above)", file=sys.stderr)
        exit_now(1)
    exit_now(0)


@task(
    help={
        "force": "rebuild even when the images are up to date",
        "base": "image to build FROM, e.g. python:3.11-slim where a registry is reachable "
        "(default: proctor-base:bookworm, made locally with debootstrap)",
        "no-server": "skip the llama.cpp model-server image (only the quickstart needs it)",
    }
)
def image(c, force=False, base=None, no_server=False):
    """Build the base, harness and model-server Docker images (skips what is up to date)."""
    from pathlib import Path

    from proctor.launcher.images import BASE_IMAGE, ensure_images

    try:
        ensure_images(
            Path(__file__).resolve().parent,
            force=force,
            base_image=base or BASE_IMAGE,
            server=not no_server,
        )
    except ProctorError as e:
        raise _fail(e) from None


@task(
    positional=["id"],
    help={
        "id": ID_HELP + "; default: the latest invocation",
        "json": "print JSON instead of a table",
        "watch": "show the jobs live (progress bars on a terminal) until every job has ended",
        "outputs": OUTPUTS_HELP,
    },
)
def status(c, id=None, json=False, watch=False, outputs=None):
    """Show the state, progress and failures of an invocation's jobs (default: the latest)."""
    from proctor.launcher.jobs import invocations, live, views

    try:
        out = invocations.outputs_dir(outputs)
        if watch and not json:
            live.watch_status(out, id or None)
        else:
            print(views.status_view(out, id or None, as_json=json)[0])
    except ProctorError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        pass


@task(help={"json": "print JSON instead of a table", "outputs": OUTPUTS_HELP})
def ls(c, json=False, outputs=None):
    """List every invocation, newest first, with how many jobs are in each state."""
    from proctor.launcher.jobs import invocations, views

    try:
        print(views.list_view(invocations.outputs_dir(outputs), as_json=json))
    except ProctorError as e:
        raise _fail(e) from None


@task(
    positional=["id"],
    iterable=["task"],
    help={
        "id": ID_HELP + "; default: the latest invocation",
        "task": "only this task's log; repeatable",
        "follow": "keep printing while jobs run; ends when all of them have ended",
        "outputs": OUTPUTS_HELP,
    },
)
def logs(c, id=None, task=None, follow=False, outputs=None):
    """Print the script and container output of jobs, each line tagged with its task."""
    from proctor.launcher.jobs import invocations
    from proctor.launcher.jobs import logs as logs_mod

    try:
        selection = invocations.resolve(invocations.outputs_dir(outputs), id or None)
        logs_mod.show(selection, task, follow=follow)
    except ProctorError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        pass


@task(
    positional=["id"],
    help={
        "id": ID_HELP,
        "grace": "seconds between SIGTERM and SIGKILL (default 10)",
        "outputs": OUTPUTS_HELP,
    },
)
def kill(c, id=None, grace="10", outputs=None):
    """Stop an invocation or one job: containers, then scripts; mark it KILLED."""
    from proctor.launcher.jobs import control as jobs
    from proctor.launcher.jobs import invocations

    if not id:
        raise Exit("proctor: inv kill needs an invocation or job id (inv ls lists them)", code=2)
    try:
        seconds = float(grace)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= 3600:  # also refuses nan and inf, which would wait forever
        raise Exit(
            f"proctor: --grace takes seconds from 0 to 3600 (e.g. --grace 30), not {grace!r}",
            code=2,
        )
    try:
        for line in jobs.kill(invocations.outputs_dir(outputs), id, grace=seconds):
            print(line)
    except ProctorError as e:
        raise _fail(e) from None


@task(
    iterable=["task"],
    help={
        "invocation": "invocation id (a unique prefix is enough); default: the latest",
        "task": "rerun this task whatever its state; repeatable "
        "(default: every job that did not succeed)",
        "outputs": OUTPUTS_HELP,
    },
)
def resume(c, invocation=None, task=None, outputs=None):
    """Rerun the jobs that did not succeed, from the stored scripts, detached."""
    from proctor.launcher.jobs import control as jobs
    from proctor.launcher.jobs import invocations

    try:
        resumed = jobs.resume(invocations.outputs_dir(outputs), invocation, task)
    except ProctorError as e:
        raise _fail(e) from None
    inv = resumed.invocation
    for line in resumed.busy:
        print(f"left alone: {line}")
    if resumed.handle is None:
        print(f"nothing to resume: every job of {inv.id} succeeded (rerun one with --task NAME)")
        return
    names = ", ".join(f"{r.job.task} ({r.status.state})" for r in resumed.started)
    print(f"resuming {names} of invocation {inv.id} from its stored scripts in {inv.folder}")
    print(f"  inv status {inv.id}     inv logs {inv.id} --follow")


FORMAT_HELP = "table (default), json, csv or markdown"


@task(
    auto_shortflags=False,  # -h would be --html, not help
    positional=["ids"],
    iterable=["id"],
    help={
        "ids": "invocation id, or several separated by commas (unique prefixes are enough); "
        "default: the latest",
        "id": "one more invocation to put side by side; repeatable",
        "format": FORMAT_HELP,
        "html": "also write the HTML report (beside the results for one invocation)",
        "output": "where --html writes (default <invocation>/report.html, or "
        "<outputs>/report-<id>-<id>.html for several)",
        "outputs": OUTPUTS_HELP,
    },
)
def report(c, ids=None, id=None, format="table", html=False, output=None, outputs=None):
    """Show the results of invocations (default: the latest): metrics with 95% CIs, errors, usage."""
    from pathlib import Path

    from proctor.launcher.jobs import invocations
    from proctor.launcher.results import htmlreport
    from proctor.launcher.results import report as report_mod

    wanted = [part.strip() for part in (ids or "").split(",") if part.strip()] + list(id or [])
    try:
        out = invocations.outputs_dir(outputs)
        reports = report_mod.load(out, wanted)
        print(report_mod.render(reports, format))
        if html:
            path = Path(output) if output else htmlreport.default_path(out, reports)
            print(f"\nreport: {htmlreport.write(reports, path)}")
    except ProctorError as e:
        raise _fail(e) from None


@task(
    positional=["ids"],
    iterable=["id"],
    help={
        "ids": "invocation id, or several separated by commas (unique prefixes are enough); "
        "default: the latest",
        "id": "one more invocation to export; repeatable",
        "to": "where to: mlflow (tracking URI from the config's export.mlflow.tracking_uri "
        "or MLFLOW_TRACKING_URI)",
        "outputs": OUTPUTS_HELP,
    },
)
def export(c, ids=None, id=None, to="mlflow", outputs=None):
    """Export invocations' results to MLflow: one run per task (re-exports never duplicate)."""
    from proctor.launcher.jobs import invocations
    from proctor.launcher.results import export as export_mod

    wanted = [part.strip() for part in (ids or "").split(",") if part.strip()] + list(id or [])
    try:
        for line in export_mod.export(invocations.outputs_dir(outputs), wanted, to):
            print(line, flush=True)
    except ProctorError as e:
        raise _fail(e) from None


@task(
    positional=["a", "b"],
    help={
        "a": "the baseline invocation id (a unique prefix is enough)",
        "b": "the invocation compared with it: differences are B - A",
        "format": FORMAT_HELP,
        "outputs": OUTPUTS_HELP,
    },
)
def compare(c, a=None, b=None, format="table", outputs=None):
    """Compare two invocations sample by sample: B - A per metric, paired CI, McNemar p."""
    from proctor.launcher.jobs import invocations
    from proctor.launcher.results import compare as compare_mod

    if not a or not b:
        raise Exit("proctor: inv compare needs two invocation ids: inv compare A B", code=2)
    try:
        comparison = compare_mod.load(invocations.outputs_dir(outputs), a, b)
        print(compare_mod.render(comparison, format))
    except ProctorError as e:
        raise _fail(e) from None


@task(
    positional=["id"],
    iterable=["task", "override"],
    help={
        "id": ID_HELP + "; default: the latest invocation",
        "task": "only this task; repeatable (default: every finished task)",
        "override": "params.extra.KEY=VALUE: a scoring option to change (value parsed as "
        "YAML); repeatable",
        "dry-run": "say what would change; write nothing",
        "outputs": OUTPUTS_HELP,
    },
)
def rescore(c, id=None, task=None, override=None, dry_run=False, outputs=None):
    """Re-score finished tasks from their journals with the current scorers (sends nothing)."""
    from proctor.launcher.jobs import invocations
    from proctor.launcher.results import rescore as rescore_mod

    try:
        out = invocations.outputs_dir(outputs)
        done = rescore_mod.rescore(out, id or None, task or [], override or [], dry_run=dry_run)
    except ProctorError as e:
        raise _fail(e) from None
    print(rescore_mod.render(done, dry_run=dry_run))


@task(positional=["name"], help={"name": "show this benchmark in full, with a sample prompt"})
def tasks(c, name=None):
    """List the benchmarks (items, endpoint, metrics, data, license), or show one."""
    from tabulate import tabulate

    from proctor.launcher import catalog

    try:
        if name:
            print(catalog.describe(name))
        else:
            print(tabulate(catalog.table_rows(), headers=catalog.HEADERS))
    except ProctorError as e:
        raise _fail(e) from None


optional_positional("status", "id")
optional_positional("logs", "id")
optional_positional("tasks", "name")
optional_positional("report", "ids")
optional_positional("compare", "a", "b")
optional_positional("rescore", "id")
optional_positional("export", "ids")

__all__ = [
    "Context",
    "compare",
    "export",
    "image",
    "kill",
    "logs",
    "ls",
    "report",
    "rescore",
    "resume",
    "run",
    "status",
    "tasks",
]
