"""Harness throughput and resume cost against a fake endpoint. Prints figures, asserts nothing.

    python bench/harness_throughput.py            # from the repository root

(a) latency-bound: the endpoint answers after 100 ms; 2,000 samples at parallelism 64.
    Ideal wall time is 2000 x 0.1 / 64 = 3.125 s; target <= 1.10 x ideal.
(b) overhead-bound: the endpoint answers at once; samples/s (target >= 1,000).
(c) resume over a journal of 100,000 finished samples: time from starting proctor-eval
    to its first new request (target < 2 s) and its peak RSS (target < 300 MB).

For (a) and (b) the endpoint runs in a separate process so it shares neither the event
loop nor the GIL with the harness, and a bare aiohttp loop (one session, a semaphore,
json parsing, nothing else) gives the ceiling the harness is compared with. For (c) the
baseline is an interpreter that only imports the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes lives at the repository root

import aiohttp  # noqa: E402

from proctor.harness.benchmarks import register  # noqa: E402
from proctor.harness.journal import Entry, Journal  # noqa: E402
from proctor.harness.runner import run_task  # noqa: E402
from proctor.harness.taskfile import TaskSpec  # noqa: E402
from tests.fakes.benchmark import BENCHMARK  # noqa: E402
from tests.fakes.endpoint import FakeEndpoint  # noqa: E402


def spec_for(url: str, n: int, parallelism: int) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "bench",
            "benchmark": "arith",
            "endpoint": {"url": url, "model_id": "m"},
            "params": {"parallelism": parallelism, "max_retries": 0, "extra": {"n": n}},
        }
    )


@contextlib.contextmanager
def endpoint_process(delay: float) -> Any:
    """A fake endpoint in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.endpoint", "--port", "0", "--delay", str(delay)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def harness_wall(url: str, n: int, parallelism: int) -> float:
    """Seconds for run_task over n arith samples, its log kept off the screen."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        code = run_task(spec_for(url, n, parallelism), Path(tmp))
        wall = time.perf_counter() - started
        results = json.loads((Path(tmp) / "results.json").read_text())
    if code != 0 or results["counts"]["scored"] != n:
        raise SystemExit(f"harness run failed: exit {code}, counts {results['counts']}")
    return wall


def raw_aiohttp_wall(url: str, n: int, parallelism: int) -> float:
    """Seconds for the bare aiohttp ceiling: n chat requests, parallelism at a time."""

    async def go() -> None:
        semaphore = asyncio.Semaphore(parallelism)
        connector = aiohttp.TCPConnector(limit=parallelism)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                body = {"model": "m", "messages": [{"role": "user", "content": f"What is {i}?"}]}
                async with semaphore, session.post(f"{url}/chat/completions", json=body) as r:
                    json.loads(await r.read())["choices"][0]["message"]["content"]

            await asyncio.gather(*(one(i) for i in range(n)))

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def best_of(runs: int, measure: Any) -> float:
    """The fastest of ``runs`` timings: noise on a shared machine only ever adds time."""
    return min(measure() for _ in range(runs))


def latency_bound(n: int, parallelism: int, delay: float, runs: int) -> None:
    ideal = n * delay / parallelism
    with endpoint_process(delay) as url:
        harness_wall(url, 200, parallelism)  # warm up imports and the server
        raw = best_of(runs, lambda: raw_aiohttp_wall(url, n, parallelism))
        wall = best_of(runs, lambda: harness_wall(url, n, parallelism))
    print(
        f"(a) latency-bound: {n} samples, {delay * 1000:.0f} ms endpoint, parallelism {parallelism}"
    )
    print(f"    ideal            {ideal:7.3f} s")
    print(f"    raw aiohttp      {raw:7.3f} s   {raw / ideal:5.3f} x ideal")
    print(f"    harness          {wall:7.3f} s   {wall / ideal:5.3f} x ideal (target <= 1.10)")


def overhead_bound(n: int, parallelism: int, runs: int) -> None:
    with endpoint_process(0.0) as url:
        harness_wall(url, 500, parallelism)
        raw = best_of(runs, lambda: raw_aiohttp_wall(url, n, parallelism))
        wall = best_of(runs, lambda: harness_wall(url, n, parallelism))
    print(f"(b) overhead-bound: {n} samples, instant endpoint, parallelism {parallelism}")
    print(f"    raw aiohttp      {n / raw:7.0f} samples/s")
    print(
        f"    harness          {n / wall:7.0f} samples/s   {raw / wall:5.2f} of raw "
        "(target >= 1,000/s)"
    )


def write_journal(path: Path, config_hash: str, n: int) -> None:
    """n scored lines shaped like real ones (about 1 KB each: a paragraph of reasoning)."""
    reasoning = "Let me add the two numbers carefully, digit by digit. " * 10
    with Journal(path, config_hash) as journal:
        for i in range(n):
            journal.append(
                Entry(
                    id=f"q{i}",
                    repeat=0,
                    status="scored",
                    prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}],
                    response=str(2 * i),
                    reasoning=reasoning,
                    finish_reason="stop",
                    prompt_tokens=57,
                    completion_tokens=150,
                    latency_s=1.234567,
                    attempts=1,
                    target=str(2 * i),
                    extracted=str(2 * i),
                    scores={"exact_match": 1.0, "length": 5.0},
                    error=None,
                )
            )


def child_stats(args: list[str]) -> tuple[int, float]:
    """Run a child to completion: (exit code, peak RSS in MB)."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return proc.returncode, usage.ru_maxrss / 1024  # KB on Linux


def resume(finished: int, new: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeEndpoint() as ep:
        spec = spec_for(ep.base_url, finished + new, 64)
        results = Path(tmp) / "results"
        results.mkdir()
        write_journal(results / "samples.jsonl", spec.config_hash(), finished)
        size_mb = (results / "samples.jsonl").stat().st_size / 1e6
        task = Path(tmp) / "task.yaml"
        task.write_text(spec.to_yaml())

        started = time.time()
        floor_code, floor_rss = child_stats(
            [sys.executable, "-c", "import proctor.harness.runner, tests.fakes.benchmark"]
        )
        floor_s = time.time() - started

        started = time.time()
        code, rss = child_stats(
            [sys.executable, "-m", "tests.fakes.benchmark", "--task-file", str(task)]
            + ["--results", str(results)]
        )
        first_request = (ep.first_request_at or float("nan")) - started
        lines = (results / "samples.jsonl").read_bytes().count(b"\n")
    if code != 0 or floor_code != 0 or ep.total != new or lines != finished + new:
        raise SystemExit(f"resume run wrong: exit {code}, sent {ep.total}, {lines} lines")
    print(f"(c) resume: journal of {finished:,} finished samples ({size_mb:.0f} MB), {new} new")
    print(
        f"    import-only floor  {floor_s:6.2f} s to exit,           peak RSS {floor_rss:5.0f} MB"
    )
    print(
        f"    harness            {first_request:6.2f} s to first request, peak RSS {rss:5.0f} MB "
        "(targets < 2 s, < 300 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="samples for (a)")
    parser.add_argument("--fast-samples", type=int, default=10_000, help="samples for (b)")
    parser.add_argument("--journal", type=int, default=100_000, help="finished lines for (c)")
    parser.add_argument("--runs", type=int, default=3, help="best of this many, for (a), (b)")
    parser.add_argument("--only", choices=["a", "b", "c"], help="run one part")
    args = parser.parse_args()
    register(BENCHMARK)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if args.only in (None, "a"):
        latency_bound(args.samples, 64, 0.1, args.runs)
    if args.only in (None, "b"):
        overhead_bound(args.fast_samples, 64, args.runs)
    if args.only in (None, "c"):
        resume(args.journal, 100)


if __name__ == "__main__":
    main()
