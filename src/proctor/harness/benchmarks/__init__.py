"""The benchmark catalog: one module per benchmark, looked up by name."""

from __future__ import annotations

import importlib

from proctor.harness.benchmarks.base import Benchmark

# name -> module under proctor.harness.benchmarks; each module defines BENCHMARK.
CATALOG: dict[str, str] = {
    "gsm8k": "gsm8k",
    "mmlu": "mmlu",
    "arc_challenge": "arc",
    "arc_easy": "arc",
    "hellaswag": "hellaswag",
    "boolq": "boolq",
    "math500": "math500",
    "humaneval": "humaneval",
    "mbpp": "mbpp",
    "ifeval": "ifeval",
    "jsonl": "jsonl",
    "mtbench": "mtbench",
    "arena_hard": "arena_hard",
    "alpaca_eval": "alpaca_eval",
    # Log-likelihood multiple choice (completions endpoints), OLMES requests.
    "arc_easy_olmes": "olmes",
    "arc_challenge_olmes": "olmes",
    "boolq_olmes": "olmes",
    "csqa_olmes": "olmes",
    "hellaswag_olmes": "olmes",
    "openbookqa_olmes": "olmes",
    "piqa_olmes": "olmes",
    "socialiqa_olmes": "olmes",
    "winogrande_olmes": "olmes",
    "sciq_olmes": "olmes",
    "mmlu_olmes": "mmlu_olmes",
}

# Benchmarks added at run time by register(): tests and out-of-tree plug-ins. Looked up first.
_REGISTERED: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> None:
    """Make ``benchmark`` available to get() under ``benchmark.name`` in this process.

    For test benchmarks and plug-ins that do not belong in the catalog: a script
    calls register() and then ``proctor.harness.__main__.main()``.
    """
    _REGISTERED[benchmark.name] = benchmark


def get(name: str) -> Benchmark:
    """Return the benchmark called ``name``; KeyError names the known ones."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in CATALOG:
        known = ", ".join(sorted({*CATALOG, *_REGISTERED}))
        raise KeyError(f"unknown benchmark {name!r}; known: {known}")
    module = importlib.import_module(f"proctor.harness.benchmarks.{CATALOG[name]}")
    bench: Benchmark = (
        module.BENCHMARKS[name] if hasattr(module, "BENCHMARKS") else module.BENCHMARK
    )
    return bench
