"""`inv run --dry-run` of a 20-task config. Prints figures, asserts nothing.

    python bench/dry_run.py            # from the repository root

The config names 20 tasks across the built-in benchmarks (plus per-task overrides), so
the dry run validates every name and params block, plans 20 jobs and renders 20 run.sh
files and the run_all.sh. Median of several runs of the command line a user types,
beside two baselines from the same run: `python -c "import proctor.launcher"` and
`inv --list` (interpreter plus Invoke plus tasks.py). Also in-process: `prepare()`.

Target: under 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("gsm8k", "mmlu", "arc_challenge", "arc_easy", "jsonl")


def write_config(tmp: Path, n: int) -> Path:
    data = tmp / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text('{"input": "2+2?", "target": "4"}\n')
    tasks = []
    for i in range(n):
        name = BENCHMARKS[i % len(BENCHMARKS)]
        task: dict = {"name": name, "params": {"limit_samples": 10 + i}}
        if name == "jsonl":
            task["dataset_dir"] = str(data)
        tasks.append(task)
    config = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "m"}},
        "evaluation": {"params": {"temperature": 0.0, "max_tokens": 64}, "tasks": tasks},
        "execution": {"output_dir": str(tmp / "outputs"), "mode": "parallel", "max_parallel": 4},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def median_s(args: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=7, help="median of this many")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    inv = ["-m", "invoke", "-r", str(ROOT)]
    with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp_name:
        tmp = Path(tmp_name)
        config = write_config(tmp, args.tasks)
        rows = [
            ("baseline: python -c 'import proctor.launcher'", ["-c", "import proctor.launcher"]),
            ("baseline: inv --list", [*inv, "--list"]),
            (
                f"in-process: prepare() of {args.tasks} tasks (new interpreter)",
                [
                    "-c",
                    f"from proctor.launcher.run.launch import prepare; prepare({str(config)!r})",
                ],
            ),
            (
                f"CLI: inv run --dry-run ({args.tasks} tasks)",
                [*inv, "run", "--config", str(config), "--dry-run"],
            ),
        ]
        results = [(label, median_s(argv, tmp, args.runs)) for label, argv in rows]
        assert not (tmp / "outputs").exists(), "a dry run wrote outputs/"
    base = results[1][1]
    print(f"\nmedian of {args.runs} runs                                  seconds   x inv --list")
    for label, seconds in results:
        print(f"  {label:<55} {seconds:6.3f}   {seconds / base:5.2f}")
    print("\ntarget: inv run --dry-run of 20 tasks under 1.5 s")


if __name__ == "__main__":
    main()
