"""Oracle tests through the real harness: runner -> HTTP client -> fake endpoint on 127.0.0.1.

The fake endpoint answers each prompt from the benchmark's own samples (gold, wrong or
garbage), so accuracy must come out 1, 0 and 0 on a seeded subset of 50 items, with every
prompt sent exactly once and a rerun sending nothing (sample ids key the journal).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import Sample
from proctor.harness.runner import EXIT_OK, run_task, select_subset
from proctor.harness.taskfile import Endpoint, Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint, prompt_key

ROOT = Path(__file__).resolve().parents[3]
SUBSET = 50


def gold(sample: Sample) -> str:
    if sample.id.startswith("gsm8k/"):
        return f"Step by step... so she has ${int(sample.target):,} left.\nThe answer is {sample.target}."
    if isinstance(sample.target, list):  # jsonl, scorer contains
        return f"I believe it is {sample.target[0]}."
    if sample.id.startswith("math500/"):
        return f"Reasoning...\nSo the answer is $\\boxed{{{sample.target}}}$."
    return f"Looking at each option in turn...\nAnswer: {sample.target}"


def wrong(sample: Sample) -> str:
    if sample.id.startswith("gsm8k/"):
        return f"The answer is {Decimal(sample.target) + 1}."
    if isinstance(sample.target, list):
        return "I believe it is something else entirely."
    if sample.id.startswith("math500/"):
        return "So the answer is $\\boxed{\\text{no idea}}$."
    return "Answer: " + next(x for x in sample.meta["letters"] if x != sample.target)


def garbage(sample: Sample) -> str:
    return "\ufffd{{[ lorem ipsum"


TASKS: dict[str, tuple[dict[str, Any], str | None]] = {
    "gsm8k": ({}, None),
    "mmlu": ({}, None),
    "arc_challenge": ({}, None),
    "hellaswag": ({}, None),
    "boolq": ({}, None),
    "math500": ({}, None),
    "jsonl": (
        {"file": "sample_qa.jsonl", "id_field": "id", "scorer": "contains"},
        str(ROOT / "configs" / "data"),
    ),
}


def run(
    tmp_path: Path, name: str, respond: Callable[[Sample], str], endpoint_type: str = "chat"
) -> tuple[dict[str, Any], FakeEndpoint]:
    extra, dataset_dir = TASKS[name]
    params = Params(limit_samples=SUBSET, seed=7, parallelism=8, max_retries=0, extra=extra)
    samples = benchmarks.get(name).load(params, dataset_dir)
    by_prompt = {s.prompt: respond(s) for s in samples}
    with FakeEndpoint(lambda body: by_prompt[prompt_key(body)]) as ep:
        spec = TaskSpec(
            name=name,
            benchmark=name,
            endpoint=Endpoint(url=ep.base_url, model_id="fake-model", type=endpoint_type),
            params=params,
            dataset_dir=dataset_dir,
        )
        results_dir = tmp_path / name
        assert run_task(spec, results_dir) == EXIT_OK
        subset = select_subset(samples, SUBSET, seed=7)
        assert ep.total == len(subset)
        assert set(ep.counts().values()) == {1}
        assert run_task(spec, results_dir) == EXIT_OK  # resumes: nothing left to send
        assert ep.total == len(subset)
    return json.loads((results_dir / "results.json").read_text()), ep


@pytest.mark.parametrize("name", sorted(TASKS))
@pytest.mark.parametrize(
    "respond, expected",
    [(gold, 1.0), (wrong, 0.0), (garbage, 0.0)],
    ids=["gold", "wrong", "garbage"],
)
def test_oracle_through_the_harness(
    tmp_path: Path, name: str, respond: Callable[[Sample], str], expected: float
) -> None:
    results, _ = run(tmp_path, name, respond)
    n = min(SUBSET, 20) if name == "jsonl" else SUBSET
    assert results["counts"] == {"total": n, "scored": n, "errors": 0}
    assert results["metrics"]["accuracy"]["value"] == expected
    assert results["metrics"]["accuracy"]["n"] == n


def test_plain_prompts_work_on_a_completions_endpoint(tmp_path: Path) -> None:
    results, _ = run(tmp_path, "gsm8k", gold, endpoint_type="completions")
    assert results["metrics"]["accuracy"]["value"] == 1.0
