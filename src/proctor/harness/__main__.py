"""``proctor-eval --task-file /proctor/task.yaml --results /results`` (or ``python -m proctor.harness``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

import yaml
from pydantic import ValidationError

from proctor.harness.quickexit import exit_now
from proctor.harness.runner import EXIT_BAD_INPUT, run_task
from proctor.harness.sandbox import LocalSandbox, SocketSandbox
from proctor.harness.taskfile import TaskSpec


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "(top level)"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def load_spec(path: Path) -> TaskSpec:
    """Read a task file; any problem becomes a one-line SystemExit with code 2."""
    try:
        return TaskSpec.load(path)
    except FileNotFoundError:
        reason = "file not found"
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        reason = " ".join(str(e).split())[:300]
    except RecursionError:
        reason = "nested too deeply"
    except ValidationError as e:
        reason = _first_error(e)
    print(f"proctor-eval: bad task file {path}: {reason}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def main(argv: list[str] | None = None) -> int:
    """Run the task a task file describes; the exit code is the harness's (see runner)."""
    parser = argparse.ArgumentParser(
        prog="proctor-eval", description="Evaluate an OpenAI-compatible endpoint on one task."
    )
    parser.add_argument("--task-file", type=Path, required=True, help="the task.yaml to run")
    parser.add_argument(
        "--results",
        type=Path,
        required=True,
        help="folder for samples.jsonl, progress.json and results.json/.yml",
    )
    parser.add_argument(
        "--sandbox",
        metavar="SOCKET|local",
        help="where code benchmarks run the model's code: the socket of a sandbox server "
        "(inv run starts one in its own container), or 'local' for a server in this "
        "container (rlimits and timeouts only: weaker isolation)",
    )
    args = parser.parse_args(argv)
    spec = load_spec(args.task_file)
    if args.sandbox == "local":
        with LocalSandbox() as local:
            return run_task(spec, args.results, local)
    sandbox = SocketSandbox(Path(args.sandbox)) if args.sandbox else None
    return run_task(spec, args.results, sandbox)


def cli() -> NoReturn:
    """The ``proctor-eval`` program: ``main``, then out at once (harness.quickexit)."""
    exit_now(main())


if __name__ == "__main__":
    cli()
