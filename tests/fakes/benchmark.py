"""``arith``: a tiny synthetic benchmark for harness tests and benches, not in the catalog.

Sample ``q{i}`` asks "What is {i} plus {i}?" and its target is ``str(2 * i)``; the
number of samples is ``params.extra["n"]`` (default 20). Metrics: ``exact_match``
(a proportion) and ``length`` (characters in the response, so a non-proportion is
covered too). ``answer`` is a matching endpoint behaviour: right unless i % 3 == 0.

Run as a module it is ``proctor-eval`` with ``arith`` registered, which is how tests
run the harness in a subprocess::

    python -m tests.fakes.benchmark --task-file task.yaml --results out/
"""

from __future__ import annotations

import re
import sys
from typing import Any

from proctor.harness.benchmarks import register
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.taskfile import Params

_NUMBER = re.compile(r"What is (\d+) plus")


class Arith:
    """The benchmark object (see the module docstring)."""

    name = "arith"
    endpoint_types = ("chat", "completions")
    default_max_tokens = 16

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        n = int(params.extra.get("n", 20))
        return [
            Sample(id=f"q{i}", prompt=f"What is {i} plus {i}?", target=str(2 * i)) for i in range(n)
        ]

    def score(self, sample: Sample, response: str) -> Score:
        extracted = response.strip()
        return Score(
            extracted=extracted,
            scores={"exact_match": float(extracted == sample.target), "length": len(response)},
        )


BENCHMARK = Arith()


def answer(body: dict[str, Any]) -> str:
    """What a fake endpoint answers to an arith prompt: right unless i % 3 == 0."""
    text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    match = _NUMBER.search(text)
    if match is None:
        return "?"
    i = int(match.group(1))
    return "wrong" if i % 3 == 0 else str(2 * i)


def main() -> int:
    """proctor-eval with ``arith`` registered."""
    from proctor.harness.__main__ import main as harness_main

    register(BENCHMARK)
    return harness_main()


if __name__ == "__main__":
    sys.exit(main())
