"""`inv status` over 200 finished Slurm jobs, beside the same for 200 local jobs. Asserts nothing.

    python bench/slurm_status.py        # from the repository root; needs `make slurm-up`

Submits 200 real jobs (`sbatch --wrap true`, they end within seconds) and writes two
invocations of 200 tasks each, laid out as `inv run` does (real plans, real render):

- local: every job SUCCEEDED by its markers (the local executor's figure);
- slurm, finished: every job SUCCEEDED by its markers, each naming one of the real job
  ids (markers settle it: no Slurm call at all);
- slurm, asked: every job's markers say running while its Slurm job has ended, so status
  must ask Slurm about all 200 (one squeue, one sacct) and shows them LOST.

Prints the median of several `inv status <id>` runs (the command a user types) and the
ratio to the local figure. Target: under 1.5 s for 200 finished Slurm jobs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

from proctor.launcher import config  # noqa: E402
from proctor.launcher.run.launch import write_folder  # noqa: E402
from proctor.launcher.run.plan import make_plan  # noqa: E402
from proctor.launcher.run.render import render_files  # noqa: E402

STAMP = "2026-01-01T00:00:00Z"


def submit_jobs(n: int, tmp: Path) -> list[str]:
    ids = []
    for _ in range(n):
        out = subprocess.run(
            ["sbatch", "--parsable", "--output=/dev/null", "--wrap", "true"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ids.append(out.strip().split(";")[0])
    return ids


def make_invocation(tmp: Path, jobs: int, slurm: bool, inv_id: str) -> tuple[Path, list]:
    execution = {"output_dir": str(tmp / "outputs")}
    if slurm:
        execution["type"] = "slurm"
    data = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "gsm8k"} for _ in range(jobs)]},
        "execution": execution,
    }
    path = tmp / f"{inv_id}.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp / "outputs").mkdir(exist_ok=True)
    plan = make_plan(config.load(path), path, invocation_id=inv_id)
    files = render_files(plan)
    write_folder(plan.folder, files, [job.dirname for job in plan.jobs])
    return plan.folder, plan.jobs


def mark(folder: Path, jobs: list, ids: list[str] | None, finished: bool) -> None:
    for k, job in enumerate(jobs):
        logs = folder / job.dirname / "logs"
        (logs / "stage.pre-start").write_text(STAMP + "\n")
        (logs / "stage.running").write_text(STAMP + "\n")
        if finished:
            (logs / "stage.exit").write_text(f"{STAMP} 0\n")
        if ids is not None:
            (logs / "slurm.jobs").write_text(f"1 {ids[k % len(ids)]}\n")
            old = time.time() - 3600  # not young: sacct has had time
            os.utime(logs / "slurm.jobs", (old, old))


def median_s(args: list[str], cwd: Path, runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
        out = done.stdout
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        print("no Slurm here (sbatch not found): run `make slurm-up` first")
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="proctor-bench-slurm-") as name:
        tmp = Path(name)
        started = time.perf_counter()
        ids = submit_jobs(args.jobs, tmp)
        print(f"submitted {len(ids)} jobs in {time.perf_counter() - started:.1f} s")
        local, local_jobs = make_invocation(tmp, args.jobs, False, "0000000a")
        mark(local, local_jobs, None, finished=True)
        done, done_jobs = make_invocation(tmp, args.jobs, True, "0000000b")
        mark(done, done_jobs, ids, finished=True)
        asked, asked_jobs = make_invocation(tmp, args.jobs, True, "0000000c")
        mark(asked, asked_jobs, ids, finished=False)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait for the real jobs to end
            queue = subprocess.run(
                ["squeue", "-h", "--me", "-o", "%i"], capture_output=True, text=True
            )
            if not set(queue.stdout.split()) & set(ids):
                break
            time.sleep(1)
        inv = [sys.executable, "-m", "invoke", "-r", str(ROOT), "status"]
        rows = [
            (f"local: {args.jobs} SUCCEEDED jobs", "0000000a"),
            (f"slurm: {args.jobs} SUCCEEDED jobs (markers)", "0000000b"),
            (f"slurm: {args.jobs} ended jobs, asking Slurm", "0000000c"),
        ]
        results = []
        for label, inv_id in rows:
            seconds, out = median_s([*inv, inv_id], tmp, args.runs)
            states = out.split("\n")[1].split(":")[-1].strip() if "\n" in out else ""
            results.append((label, seconds, states))
    base = results[0][1]
    print(f"\nmedian of {args.runs} runs of `inv status <id>`          seconds   x local")
    for label, seconds, states in results:
        print(f"  {label:<48} {seconds:6.3f}   {seconds / base:5.2f}   ({states})")
    print(f"\ntarget: inv status over {args.jobs} finished Slurm jobs under 1.5 s")


if __name__ == "__main__":
    main()
