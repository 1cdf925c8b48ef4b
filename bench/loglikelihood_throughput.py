"""Log-likelihood scoring throughput against the zero-delay fake endpoint. Asserts nothing.

    python bench/loglikelihood_throughput.py        # from the repository root

A 1,000-item, 4-choice log-likelihood task (one echo + logprobs request per choice, plus
the one endpoint check) beside the generative figure in the same run: 1,000 arith
samples (one request each) through the same harness and endpoint, so the ratio says what
a log-likelihood item costs over a generative sample on this machine. The endpoint runs
in its own process (see harness_throughput.py). Best of --runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness_throughput import best_of, endpoint_process  # noqa: E402
from proctor.harness.benchmarks import register  # noqa: E402
from proctor.harness.benchmarks.base import Sample, Score  # noqa: E402
from proctor.harness.loglikelihood import CHOICES, Choice  # noqa: E402
from proctor.harness.runner import run_task  # noqa: E402
from proctor.harness.taskfile import Params, TaskSpec  # noqa: E402
from tests.fakes.benchmark import BENCHMARK as ARITH  # noqa: E402

CHOICES_PER_ITEM = 4
FEWSHOT = "".join(f"Question: example {i}?\nAnswer: answer {i}\n\n" for i in range(5))


class Ranked:
    """n OLMES-shaped items (a 5-shot context, 4 continuations), scored by log-likelihood."""

    name = "ranked"
    endpoint_types = ("completions",)
    default_max_tokens = 1

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        samples = []
        for i in range(int(params.extra.get("n", 1000))):
            context = f"{FEWSHOT}Question: which option is number {i}?\nAnswer:"
            texts = [f"option {i} {k}" for k in range(CHOICES_PER_ITEM)]
            choices = [Choice(context, " " + t, t) for t in texts]
            samples.append(
                Sample(id=f"r{i}", prompt=context, target=i % 4, meta={CHOICES: choices})
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        raise TypeError("scored by log-likelihood")


def wall(url: str, benchmark: str, n: int, parallelism: int) -> float:
    spec = TaskSpec.model_validate(
        {
            "name": "bench",
            "benchmark": benchmark,
            "endpoint": {"url": url, "model_id": "m", "type": "completions"},
            "params": {"parallelism": parallelism, "max_retries": 0, "extra": {"n": n}},
        }
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        code = run_task(spec, Path(tmp))
        elapsed = time.perf_counter() - started
        counts = json.loads((Path(tmp) / "results.json").read_text())["counts"]
    if code != 0 or counts["scored"] != n:
        raise SystemExit(f"{benchmark} run failed: exit {code}, counts {counts}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    register(ARITH)
    register(Ranked())
    n, p = args.items, args.parallelism
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with endpoint_process(0.0) as url:
        wall(url, "ranked", 100, p)  # warm up
        generative = best_of(args.runs, lambda: wall(url, "arith", n, p))
        ranked = best_of(args.runs, lambda: wall(url, "ranked", n, p))
    requests = n * CHOICES_PER_ITEM + 2  # + the endpoint check's two
    print(f"zero-delay endpoint, parallelism {p}, best of {args.runs}")
    print(
        f"    generative      {n} samples  {n / generative:7.0f} samples/s  {n / generative:7.0f} requests/s"
    )
    print(
        f"    log-likelihood  {n} items x {CHOICES_PER_ITEM} choices  {n / ranked:7.0f} items/s  "
        f"{requests / ranked:7.0f} requests/s  {ranked / (n * CHOICES_PER_ITEM) * 1e3:.3f} ms per choice"
    )
    print(
        f"    per request, log-likelihood costs {(ranked / requests) / (generative / n):.2f} x a "
        "generative one (echoed logprobs are parsed per token)"
    )


if __name__ == "__main__":
    main()
