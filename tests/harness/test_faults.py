"""The harness against a misbehaving endpoint: every sample is scored or recorded as an
error with its cause, retries stay bounded, counts add up, and resume retries only errors.

The fault server is seeded: each request's fate depends only on (seed, prompt, nth try),
so which samples must end in an error can be computed before the run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from proctor.harness.benchmarks import register
from proctor.harness.runner import run_task
from proctor.harness.taskfile import TaskSpec
from tests.fakes import faults
from tests.fakes.benchmark import BENCHMARK, answer
from tests.fakes.endpoint import FakeEndpoint, first

register(BENCHMARK)

N = 240
MAX_RETRIES = 3
SEED = 7
# The mix: 20% 5xx, 10% 429 (with Retry-After), 5% resets, 5% hangs, 5% malformed.
RATES = {
    faults.SERVER_ERROR: 0.10,
    faults.UNAVAILABLE: 0.10,
    faults.RATE_LIMITED: 0.10,
    faults.RESET: 0.05,
    faults.HANG: 0.05,
    faults.MALFORMED: 0.05,
}
CAUSE = {
    faults.SERVER_ERROR: "http_500",
    faults.UNAVAILABLE: "http_503",
    faults.RATE_LIMITED: "http_429",
    faults.RESET: "malformed",
    faults.HANG: "timeout",
    faults.MALFORMED: "malformed",
}


def spec(url: str, **params: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "faults",
            "benchmark": "arith",
            "endpoint": {"url": url, "model_id": "m"},
            "params": {
                "parallelism": 32,
                "max_retries": MAX_RETRIES,
                "request_timeout": 1.0,
                "extra": {"n": N},
                **params,
            },
        }
    )


def fate(key: str, nth: int) -> Any:
    return faults.mix(RATES, SEED)(key, nth, {})


def predicted_errors() -> dict[str, str]:
    """Prompt key -> the cause of its last failure, for every sample whose tries all fail."""
    doomed = {}
    for i in range(N):
        key = f"What is {i} plus {i}?"
        tries = [fate(key, nth) for nth in range(1, MAX_RETRIES + 2)]
        if all(tries):
            doomed[key] = CAUSE[tries[-1]]
    return doomed


def journal(results: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (results / "samples.jsonl").read_text().splitlines()]


def test_every_sample_is_scored_or_an_error_with_its_cause_and_resume_retries_errors(tmp_path):
    doomed = predicted_errors()
    assert 2 <= len(doomed) <= 20  # the mix does doom a few samples, not many
    allowed = len(doomed) / N  # exactly at the limit: the task must still succeed

    with FakeEndpoint(answer, faults=faults.mix(RATES, SEED)) as ep:
        assert run_task(spec(ep.base_url, max_error_rate=allowed), tmp_path) == 0
        sent = ep.counts()

    lines = journal(tmp_path)
    assert len(lines) == N and len({(x["id"], x["repeat"]) for x in lines}) == N
    errors = {
        f"What is {x['id'][1:]} plus {x['id'][1:]}?": x for x in lines if x["status"] == "error"
    }
    assert set(errors) == set(doomed)
    for key, line in errors.items():
        assert line["error"].startswith(doomed[key] + ":"), line["error"]
        assert line["attempts"] == MAX_RETRIES + 1 == sent[key]
        assert line["scores"] == {}
    for line in lines:
        key = f"What is {line['id'][1:]} plus {line['id'][1:]}?"
        assert sent[key] <= MAX_RETRIES + 1
        if line["status"] == "scored":
            # Tried until the first try the server was fated to answer.
            first_ok = next(n for n in range(1, MAX_RETRIES + 2) if fate(key, n) is None)
            assert line["attempts"] == first_ok == sent[key]
            assert line["error"] is None and line["response"]

    results = json.loads((tmp_path / "results.json").read_text())
    status = Counter(x["status"] for x in lines)
    assert results["counts"] == {"total": N, "scored": status["scored"], "errors": status["error"]}
    assert results["status"] == "ok"
    assert results["metrics"]["exact_match"]["n"] == status["scored"]

    with FakeEndpoint(answer) as ep:  # the endpoint recovered: resume
        assert run_task(spec(ep.base_url, max_error_rate=allowed), tmp_path) == 0
        assert ep.counts() == Counter(dict.fromkeys(doomed, 1))
    lines = journal(tmp_path)
    assert len(lines) == N and all(x["status"] == "scored" for x in lines)


def test_the_task_fails_only_when_errors_exceed_the_limit(tmp_path):
    doomed = predicted_errors()
    with FakeEndpoint(answer, faults=faults.mix(RATES, SEED)) as ep:
        code = run_task(spec(ep.base_url, max_error_rate=(len(doomed) - 1) / N), tmp_path)
    assert code == 3
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "error_rate_exceeded"
    assert results["counts"]["errors"] == len(doomed)


def test_truncated_bodies_empty_choices_and_slow_answers(tmp_path):
    for fault, attempts in [(faults.TRUNCATED, 2), (faults.EMPTY_CHOICES, 2), (faults.SLOW, 1)]:
        out = tmp_path / str(id(fault))
        with FakeEndpoint(answer, faults=first(1, fault)) as ep:
            assert run_task(spec(ep.base_url, max_error_rate=0.0, **{"extra": {"n": 12}}), out) == 0
        lines = journal(out)
        assert [x["status"] for x in lines] == ["scored"] * 12
        assert {x["attempts"] for x in lines} == {attempts}, fault
