"""The whole `inv run --wait` against a plain aiohttp client. Prints figures, asserts nothing.

    python bench/whole_run.py            # from the repository root, with the images built

The workload of bench/harness_throughput.py (a): 2,000 samples, 64 in flight, an endpoint
that answers after 100 ms (in its own process). Timed from the start of the `inv` process
to its exit with the results table printed, so launcher start-up, the endpoint pre-check,
rendering, the container's start and the harness's import, the results and report
writing and the wait are all in it. Baseline: a bare aiohttp loop sending the same 2,000
requests (one session, a semaphore, JSON parsing), in this script. Median of 3 each;
target: whole run <= 1.3x the baseline.

The breakdown of each run comes from the files the run leaves (modification times, and
the journal's per-sample times), so the launcher needs no instrumentation:

    launcher     process start -> invocation.yaml written (imports, config, pre-check, render)
    to script    -> the task's run.sh wrote stage.pre-start (run_all.sh forked it)
    to container -> stage.running (the .env loaded, the container is being started)
    to harness   -> first sample journaled, less one endpoint delay (container start,
                    harness import, dataset load, pre-check)
    requests     -> last sample journaled
    finish       -> results.json written
    to driver end-> run_all.sh exited (stage.exit, report.html)
    the wait     -> the inv process exited (noticing the end, final status and report)

Measured (2026-12-03, the shared 2-core machine): aiohttp's loop 3.45 s, the client as a
program 3.87 s, inv run --wait 5.51 s = 1.60x the loop (target 1.30x not met; it was
1.91x before this session's changes), 1.42x the program. Launcher 0.81 s, to harness
0.73 s, requests 3.45 s, to driver end 0.30 s, the wait 0.07 s. docs/architecture.md
("The whole run's time") says what moved and what is left: mostly two Python start-ups
with their imports and the container's start, which do not grow with the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import yaml  # noqa: E402
from harness_throughput import endpoint_process, raw_aiohttp_wall  # noqa: E402

from proctor.launcher.images import HARNESS_LATEST  # noqa: E402

STEPS = [
    "launcher",
    "to script",
    "to container",
    "to harness",
    "requests",
    "finish",
    "to driver end",
    "the wait",
]


def write_config(folder: Path, url: str, n: int, parallelism: int) -> Path:
    data = folder / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text(
        "".join(json.dumps({"input": f"q {i}", "target": f"q {i}"}) + "\n" for i in range(n))
    )
    config = {
        "target": {"api_endpoint": {"url": f"{url}/chat/completions", "model_id": "m"}},
        "evaluation": {
            "params": {"parallelism": parallelism, "max_retries": 0},
            "tasks": [{"name": "jsonl", "dataset_dir": str(data)}],
        },
        "execution": {"output_dir": str(folder / "outputs"), "image": HARNESS_LATEST},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _journal_times(path: Path) -> tuple[float, float, int]:
    times = []
    for line in path.read_text().splitlines():
        stamp = json.loads(line)["time"]
        times.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    return min(times), max(times), len(times)


def whole_run(url: str, n: int, parallelism: int, delay: float) -> tuple[float, dict[str, float]]:
    """One `inv run --wait`: its wall time and where the time went."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(os.environ.get("KEEP", tmp))
        config = write_config(folder, url, n, parallelism)
        command = [sys.executable, "-m", "invoke", "-r", str(ROOT), "run", "--config", str(config)]
        started = time.time()
        result = subprocess.run(
            [*command, "--wait"], cwd=folder, capture_output=True, text=True, timeout=600
        )
        ended = time.time()
        if result.returncode != 0:
            raise SystemExit(f"inv run --wait failed ({result.returncode}):\n{result.stderr}")
        (inv,) = (folder / "outputs").iterdir()
        logs = inv / "jsonl" / "logs"
        first, last, lines = _journal_times(inv / "jsonl" / "artifacts" / "samples.jsonl")
        if lines != n:
            raise SystemExit(f"journal has {lines} lines, expected {n}")
        marks = [
            started,
            _mtime(inv / "invocation.yaml"),
            _mtime(logs / "stage.pre-start"),
            _mtime(logs / "stage.running"),
            first - delay,
            last,
            _mtime(inv / "jsonl" / "artifacts" / "results.json"),
            max(_mtime(logs / "stage.exit"), _mtime(inv / "report.html")),
            ended,
        ]
    return ended - started, {s: b - a for s, a, b in zip(STEPS, marks[:-1], marks[1:], strict=True)}


CLIENT = """
import asyncio, json, sys
import aiohttp

async def go(url, n, parallelism):
    semaphore = asyncio.Semaphore(parallelism)
    connector = aiohttp.TCPConnector(limit=parallelism)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i):
            body = {"model": "m", "messages": [{"role": "user", "content": f"What is {i}?"}]}
            async with semaphore, session.post(f"{url}/chat/completions", json=body) as r:
                json.loads(await r.read())["choices"][0]["message"]["content"]
        await asyncio.gather(*(one(i) for i in range(n)))

asyncio.run(go(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def client_process_wall(url: str, n: int, parallelism: int) -> float:
    """The same aiohttp client as a program of its own: interpreter start, imports, exit."""
    started = time.time()
    subprocess.run([sys.executable, "-c", CLIENT, url, str(n), str(parallelism)], check=True)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n, par, delay = args.samples, args.parallelism, args.delay
    os.environ.pop("PROCTOR_OUTPUT_DIR", None)
    with endpoint_process(delay) as url:
        raw_aiohttp_wall(url, 200, par)  # warm up the server
        walls, breakdowns, raws, programs = [], [], [], []
        for _ in range(args.runs):  # interleaved, so drift on the machine hits all three
            raws.append(raw_aiohttp_wall(url, n, par))
            programs.append(client_process_wall(url, n, par))
            wall, steps = whole_run(url, n, par, delay)
            walls.append(wall)
            breakdowns.append(steps)
    raw, wall = statistics.median(raws), statistics.median(walls)
    program = statistics.median(programs)
    ideal = n * delay / par
    print(f"whole run: {n} samples, {delay * 1000:.0f} ms endpoint, {par} in flight")
    print(f"    ideal              {ideal:7.3f} s")
    print(f"    plain aiohttp      {raw:7.3f} s   (median of {args.runs}; its loop only)")
    print(f"    as a program       {program:7.3f} s   (python start, imports and exit too)")
    print(
        f"    inv run --wait     {wall:7.3f} s   {wall / raw:5.2f} x aiohttp's loop "
        f"(target <= 1.30), {wall / program:4.2f} x the program"
    )
    print("    where the time of inv run --wait went (median per step):")
    for step in STEPS:
        print(f"      {step:<14} {statistics.median(b[step] for b in breakdowns):7.3f} s")


if __name__ == "__main__":
    main()
