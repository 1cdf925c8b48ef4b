"""proctor's command line: `inv --list`. Thin adapters over proctor.launcher."""

from __future__ import annotations

from invoke import Context, Exit, task

from proctor.launcher.errors import ProctorError


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
    },
)
def run(c, config=None, override=None, task=None, env_file=None, dry_run=False):
    """Run an evaluation: render scripts into outputs/ and start them detached."""
    from proctor.launcher.launch import describe, launch

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
            if rel.endswith(".sh"):
                print(f"\n# ---- {rel} ----\n{text}", end="")
        return
    print(describe(plan))
    print(f"\ninvocation {plan.invocation_id} started in {plan.folder}")
    print(f"  inv status {plan.invocation_id}     inv logs {plan.invocation_id} --follow")
    print(f"  inv kill {plan.invocation_id}       inv resume --invocation {plan.invocation_id}")


@task(help={"force": "rebuild even when the images are up to date"})
def image(c, force=False):
    """Build the base and harness Docker images (skips what is up to date)."""
    from pathlib import Path

    from proctor.launcher.images import ensure_images

    try:
        ensure_images(Path(__file__).resolve().parent, force=force)
    except ProctorError as e:
        raise _fail(e) from None


__all__ = ["Context", "image", "run"]
