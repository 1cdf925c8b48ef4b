"""Point a Slurm job's harness at the model server the job started itself.

A job's server is published on a port chosen free on its node when it starts, so the URL
is known only then: run.sbatch calls this module with the port, and the harness reads
``<task>/deployment/task.yaml`` (the job's task.yaml with the endpoint's origin replaced;
its path and query are kept) instead of ``<task>/task.yaml``. The endpoint URL is not in
the task's config hash, so a resumed or resubmitted attempt on another port continues the
same journal.

    python -m proctor.launcher.executors.slurm.retarget TASK_YAML OUT_YAML PORT
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from proctor.harness.atomicfile import write_atomic
from proctor.harness.taskfile import TaskSpec


def retarget(url: str, port: int) -> str:
    """``url`` on http://127.0.0.1:``port``, its path and query kept."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query, ""))


def write(task_file: Path, out: Path, port: int) -> str:
    """Write ``out``: ``task_file`` with its endpoint on ``port``, atomically. The new URL."""
    spec = TaskSpec.load(task_file)
    url = retarget(spec.endpoint.url, port)
    spec = spec.model_copy(update={"endpoint": spec.endpoint.model_copy(update={"url": url})})
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, spec.to_yaml())
    return url


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[2].isdigit() or not 0 < int(argv[2]) < 65536:
        print("usage: python -m proctor.launcher.executors.slurm.retarget TASK OUT PORT")
        return 2
    try:
        url = write(Path(argv[0]), Path(argv[1]), int(argv[2]))
    except (OSError, ValueError) as e:
        print(f"proctor: cannot point {argv[0]} at port {argv[2]}: {e}")
        return 1
    print(f"[proctor] the harness sends to {url} ({argv[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
