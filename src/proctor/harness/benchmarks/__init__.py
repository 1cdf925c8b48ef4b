"""The benchmark catalog: one module per benchmark, looked up by name."""

from __future__ import annotations

import importlib

from proctor.harness.benchmarks.base import Benchmark

# name -> module under proctor.harness.benchmarks; each module defines BENCHMARK.
CATALOG: dict[str, str] = {
    "gsm8k": "gsm8k",
    "mmlu": "mmlu",
    "arc_challenge": "arc",
    "jsonl": "jsonl",
}


def get(name: str) -> Benchmark:
    """Return the benchmark called ``name``; KeyError names the known ones."""
    if name not in CATALOG:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(CATALOG))}")
    module = importlib.import_module(f"proctor.harness.benchmarks.{CATALOG[name]}")
    bench: Benchmark = module.BENCHMARKS[name] if hasattr(module, "BENCHMARKS") else module.BENCHMARK
    return bench
