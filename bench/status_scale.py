"""`inv status` / `inv ls` over many invocations. Prints figures, asserts nothing.

    python bench/status_scale.py            # from the repository root

Writes 100 synthetic invocations of 10 jobs each into a temporary outputs folder, the
way `inv run` lays them out (real plans, real invocation.yaml), with every job in some
state: succeeded, failed (exit 3 with results and a log), running with a live progress
file, lost, killed, pending. Then times, median of several runs:

- in-process: `views.list_view` (all 1,000 jobs derived) and `views.status_view` (the
  latest invocation, found among 100);
- the command line a user types: `inv ls` and `inv status`, which add the interpreter,
  Invoke and the Docker SDK imports;
- baselines in the same run: `python -c "import proctor.launcher"` and `inv --list`, so
  the ratios show what status itself costs.

Target: `inv status` (CLI) over 100 invocations x 10 jobs under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

from proctor.launcher import config  # noqa: E402
from proctor.launcher.jobs import invocations, views  # noqa: E402
from proctor.launcher.run.launch import write_folder  # noqa: E402
from proctor.launcher.run.plan import make_plan  # noqa: E402
from proctor.launcher.run.render import render_files  # noqa: E402

KINDS = ("succeeded", "failed", "running", "lost", "killed", "pending")


def plan_config(tmp: Path, jobs: int) -> Path:
    data = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "m"}},
        "evaluation": {
            "params": {"limit_samples": 200, "parallelism": 8},
            "tasks": [{"name": "gsm8k"} for _ in range(jobs)],
        },
        "execution": {"output_dir": str(tmp / "outputs")},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def write_job(logs: Path, artifacts: Path, kind: str, t0: datetime, live_pid: int) -> None:
    def stamp(seconds: float) -> str:
        return (t0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    if kind == "pending":
        return
    (logs / "stage.pre-start").write_text(stamp(0) + "\n")
    (logs / "stage.running").write_text(stamp(2) + "\n")
    # A live run.sh for running jobs; a pid above pid_max (dead) for the others.
    pid = live_pid if kind == "running" else 2**22 + 7
    (logs / "script.pid").write_text(f"{pid} {pid}\n")
    done = {"succeeded": 200, "failed": 150, "running": 120, "lost": 80, "killed": 60}[kind]
    progress = {
        "schema_version": 1,
        "done": done,
        "failed": 50 if kind == "failed" else 0,
        "total": 200,
        "rate_per_s": 3.4,
        "eta_s": 23.5,
        "updated_at": stamp(60),
    }
    (artifacts / "progress.json").write_text(json.dumps(progress) + "\n")
    log = "".join(f"{stamp(i)} progress: {i}/200 done, 0 failed\n" for i in range(200))
    if kind == "succeeded":
        (logs / "stage.exit").write_text(f"{stamp(60)} 0\n")
    elif kind == "failed":
        (logs / "stage.exit").write_text(f"{stamp(60)} 3\n")
        results = {
            "status": "error_rate_exceeded",
            "max_error_rate": 0.05,
            "counts": {"total": 200, "scored": 150, "errors": 50},
            "metrics": {"accuracy": {"value": 0.5, "stderr": 0.04, "n": 150}},
        }
        (artifacts / "results.json").write_text(json.dumps(results, indent=2))
        log += f"{stamp(60)} error budget spent: 50 errors > max_error_rate 0.05 x 200; last: http_503: injected; stopping\n"
    elif kind == "killed":
        (logs / "stage.killed").write_text(f"{stamp(50)} inv kill\n")
        (logs / "stage.exit").write_text(f"{stamp(55)} 143\n")
    (logs / "stdout.log").write_text(log)


def make_outputs(tmp: Path, n_invocations: int, jobs: int, live_pid: int) -> Path:
    cfg_path = plan_config(tmp, jobs)
    cfg = config.load(cfg_path)
    out = tmp / "outputs"
    out.mkdir()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n_invocations):
        created = t0 + timedelta(minutes=i)
        plan = make_plan(cfg, cfg_path, now=created, invocation_id=f"{i:08x}")
        write_folder(plan.folder, render_files(plan), [job.dirname for job in plan.jobs])
        for k, job in enumerate(plan.jobs):
            folder = plan.folder / job.dirname
            kind = KINDS[(i + k) % len(KINDS)]
            write_job(folder / "logs", folder / "artifacts", kind, created, live_pid)
    return out


def median_s(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cli(*args: str, cwd: Path) -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run(
            [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=10, help="jobs per invocation")
    parser.add_argument("--runs", type=int, default=7, help="median of this many")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "run.sh").write_text("sleep 600\n")
        script = subprocess.Popen(
            ["bash", str(tmp / "run.sh")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = time.perf_counter()
        try:
            out = make_outputs(tmp, args.invocations, args.jobs, script.pid)
            print(
                f"wrote {args.invocations} invocations x {args.jobs} jobs "
                f"in {time.perf_counter() - started:.1f} s"
            )
            results = measure(tmp, out, args)
        finally:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
    base = results[1][1]
    print(f"\nmedian of {args.runs} runs                             seconds   x inv --list")
    for label, seconds in results:
        print(f"  {label:<50} {seconds:6.3f}   {seconds / base:5.2f}")
    print("\ntarget: inv status over 100 invocations x 10 jobs under 1.5 s (the CLI rows)")


def measure(tmp: Path, out: Path, args: argparse.Namespace) -> list[tuple[str, float]]:
    n = args.invocations * args.jobs
    if "warning" in views.list_view(out):
        print("note: Docker did not answer; containers are counted as unknown")
    inv = ["-m", "invoke", "-r", str(ROOT)]
    rows: list[tuple[str, Callable[[], object]]] = [
        (
            "baseline: python -c 'import proctor.launcher'",
            cli("-c", "import proctor.launcher", cwd=tmp),
        ),
        ("baseline: inv --list", cli(*inv, "--list", cwd=tmp)),
        (f"in-process: list_view ({n} jobs)", lambda: views.list_view(out)),
        ("in-process: status_view (latest of 100)", lambda: views.status_view(out, None)),
        (f"in-process: all {n} jobs, Docker skipped", lambda: _all_without_docker(out)),
        (f"CLI: inv ls ({n} jobs)", cli(*inv, "ls", cwd=tmp)),
        ("CLI: inv status (latest)", cli(*inv, "status", cwd=tmp)),
        ("CLI: inv status <prefix> --json", cli(*inv, "status", "0000002a", "--json", cwd=tmp)),
    ]
    return [(label, median_s(fn, args.runs)) for label, fn in rows]


def _all_without_docker(out: Path) -> None:
    from proctor.launcher.jobs.status import snapshot

    loaded = [invocations.load(f) for f in invocations.scan(out)]
    snapshot(loaded, quick=True)


if __name__ == "__main__":
    main()
