"""HumanEval and MBPP: every reference solution passes and every wrong one fails, through the
sandbox server (local mode here; tests/integration/test_sandbox.py runs the real container);
pass@k; and a seeded subset end to end through the runner, the fake endpoint and the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks import code
from proctor.harness.benchmarks.base import Sample
from proctor.harness.runner import EXIT_BAD_INPUT, EXIT_OK, run_task
from proctor.harness.sandbox import LocalSandbox
from proctor.harness.taskfile import Endpoint, Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.harness.benchmarks.test_oracle import GARBAGE

NAMES = ["humaneval", "mbpp"]
COUNTS = {"humaneval": 164, "mbpp": 500}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    with LocalSandbox() as sb:
        yield sb


def gold(sample: Sample) -> str:
    if sample.id.startswith("humaneval/"):
        return f"Here it is:\n```python\n{sample.meta['code_prompt']}{sample.target}```\n"
    return f"```python\n{sample.target}\n```"


def wrong(sample: Sample) -> str:
    """The right function name and signature, returning None."""
    if sample.id.startswith("humaneval/"):
        return f"```python\n{sample.meta['code_prompt']}    return None\n```"
    name = re.search(r"([A-Za-z_]\w*)\s*\(", sample.meta["tests"][0].removeprefix("assert"))
    assert name is not None
    return f"```python\ndef {name[1]}(*args, **kwargs):\n    return None\n```"


def passes(name: str, sandbox: LocalSandbox, respond: Callable[[Sample], str]) -> list[float]:
    bench = benchmarks.get(name).with_sandbox(sandbox)  # type: ignore[attr-defined]
    samples = bench.load(Params(), None)
    assert len(samples) == COUNTS[name] == len({s.id for s in samples})
    with ThreadPoolExecutor(8) as pool:
        scores = list(pool.map(lambda s: bench.score(s, respond(s)), samples))
    return [s.scores["pass@1"] for s in scores]


@pytest.mark.parametrize("name", NAMES)
def test_every_reference_solution_passes(name: str, sandbox: LocalSandbox) -> None:
    assert passes(name, sandbox, gold) == [1.0] * COUNTS[name]


@pytest.mark.parametrize("name", NAMES)
def test_every_wrong_solution_fails(name: str, sandbox: LocalSandbox) -> None:
    assert passes(name, sandbox, wrong) == [0.0] * COUNTS[name]


@pytest.mark.parametrize("name", NAMES)
def test_garbage_fails_without_raising(name: str, sandbox: LocalSandbox) -> None:
    bench = benchmarks.get(name).with_sandbox(sandbox)  # type: ignore[attr-defined]
    for sample in bench.load(Params(), None)[:3]:
        for text in GARBAGE:
            assert bench.score(sample, text).scores == {"pass@1": 0.0}


def test_code_extraction() -> None:
    assert code.extract_code("```python\ndef f():\n    return 1\n```") == "def f():\n    return 1\n"
    two = "```\nprint(f())\n```\nand\n```py\ndef f():\n    pass\n```"
    assert code.extract_code(two) == "def f():\n    pass\n"
    assert code.extract_code("```python\ndef f(): pass") == "def f(): pass"  # unclosed
    assert code.extract_code("    return x + 1\n") == "    return x + 1\n"
    assert code.defines("import os\ndef add(a, b):\n", "add")
    assert not code.defines("def add_two(a):\n", "add")


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert code.pass_at_k(10, 0, 1) == 0.0
    assert code.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert code.pass_at_k(10, 10, 5) == 1.0
    # 1 - C(7, 5) / C(10, 5) = 1 - 21/252
    assert code.pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert code.pass_at_k(5, 1, 5) == 1.0
    scores = {"a": [{"pass@1": 1.0}] * 2 + [{"pass@1": 0.0}] * 3, "b": [{"pass@1": 0.0}] * 5}
    out = code.aggregate(scores)
    assert set(out) == {"pass@1", "pass@5"}
    assert out["pass@1"] == [pytest.approx(0.4), 0.0] and out["pass@5"] == [1.0, 0.0]


def run(tmp_path: Path, name: str, answer: Callable[[dict[str, Any]], str], **params: Any):
    spec_params = Params(limit_samples=8, seed=3, max_retries=0, extra={"timeout_s": 5}, **params)
    with FakeEndpoint(answer) as ep, LocalSandbox() as sandbox:
        spec = TaskSpec(
            name=name,
            benchmark=name,
            endpoint=Endpoint(url=ep.base_url, model_id="fake"),
            params=spec_params,
        )
        code_ = run_task(spec, tmp_path, sandbox)
    return code_, tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_end_to_end_with_repeats_reports_pass_at_k(tmp_path: Path, name: str) -> None:
    samples = {s.prompt: s for s in benchmarks.get(name).load(Params(), None)}
    seen: dict[str, int] = {}

    def answer(body: dict[str, Any]) -> str:
        # Each problem's first two repeats are right, the other three wrong.
        key = prompt_key(body)
        seen[key] = seen.get(key, 0) + 1
        return gold(samples[key]) if seen[key] <= 2 else wrong(samples[key])

    exit_code, out = run(tmp_path, name, answer, n_repeats=5)
    assert exit_code == EXIT_OK
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == {"total": 40, "scored": 40, "errors": 0}
    metrics = results["metrics"]
    assert set(metrics) == {"pass@1", "pass@5"}
    assert metrics["pass@1"]["value"] == pytest.approx(0.4) and metrics["pass@1"]["n"] == 8
    assert metrics["pass@5"]["value"] == 1.0 and metrics["pass@5"]["n"] == 8
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {line["extracted"] for line in lines if line["scores"]["pass@1"] == 1.0} == {"passed"}


def test_a_code_benchmark_without_a_sandbox_is_refused(tmp_path: Path, capsys) -> None:
    spec = TaskSpec(
        name="humaneval",
        benchmark="humaneval",
        endpoint=Endpoint(url="http://127.0.0.1:9/v1", model_id="fake"),
    )
    assert run_task(spec, tmp_path) == EXIT_BAD_INPUT
    assert "--sandbox" in capsys.readouterr().err
