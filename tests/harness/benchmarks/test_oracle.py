"""Oracle tests over every item: the gold answer scores 1, a wrong one 0, garbage 0 without a crash.

Responses are phrased the ways models phrase them, rotating through several styles, so the
scorer's extraction is exercised on every item rather than on one happy format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import Benchmark, Sample
from proctor.harness.taskfile import Params

GARBAGE = [
    "",
    "I cannot answer that.",
    "\x00\ufffd\u202e",
    "{" * 500,
    "The answer is",
    "Answer:",
    "A dog and a cat.",
    "lorem ipsum " * 300,
]

NUMBER_STYLES: list[Callable[[Decimal], str]] = [
    lambda n: f"Let me work it out step by step.\nThe answer is {n}.",
    lambda n: f"Some working with 3 and 7.\n#### {n}",
    lambda n: f"So the total is ${n:,}.\nThe answer is ${n:,}",
    lambda n: f"The final answer is $\\boxed{{{n}}}$.",
    lambda n: f"{n}",
]

LETTER_STYLES: list[Callable[[str], str]] = [
    lambda x: f"Reasoning about the options...\nAnswer: {x}",
    lambda x: f"The correct answer is ({x}).",
    lambda x: f"{x}",
    lambda x: f"**Answer:** {x}",
    lambda x: f"A, B and C all look plausible, but the answer is {x}",
]


def gsm8k_responses(sample: Sample, i: int) -> tuple[str, str]:
    gold = Decimal(sample.target)
    style = NUMBER_STYLES[i % len(NUMBER_STYLES)]
    return style(gold), style(gold + 1)


def choice_responses(sample: Sample, i: int) -> tuple[str, str]:
    wrong = next(x for x in sample.meta["letters"] if x != sample.target)
    style = LETTER_STYLES[i % len(LETTER_STYLES)]
    return style(sample.target), style(wrong)


BOXED_STYLES: list[Callable[[str], str]] = [
    lambda x: f"Working through it carefully...\nThe final answer is $\\boxed{{{x}}}$.",
    lambda x: f"$$\\boxed{{{x}}}$$",
    lambda x: f"First I tried \\boxed{{0}}, which fails. So the answer is \\boxed{{ {x} }}.",
    lambda x: f"Putting it together:\n\nAnswer: ${x}$",
]


def math500_responses(sample: Sample, i: int) -> tuple[str, str]:
    """Gold: the answer, boxed several ways. Wrong: the next problem's answer that differs."""
    samples = _math500_samples()
    style = BOXED_STYLES[i % len(BOXED_STYLES)]
    gold = sample.target
    nospace = "".join(gold.split())
    wrong = next(
        s.target
        for s in samples[i + 1 :] + samples[:i]
        if "".join(s.target.split()) != nospace and "=" not in s.target
    )
    return style(gold), style(wrong)


@functools.cache
def _math500_samples() -> list[Sample]:
    return benchmarks.get("math500").load(Params(), None)


CASES = {
    "gsm8k": gsm8k_responses,
    "mmlu": choice_responses,
    "arc_challenge": choice_responses,
    "arc_easy": choice_responses,
    "hellaswag": choice_responses,
    "boolq": choice_responses,
    "math500": math500_responses,
}


def accuracy(bench: Benchmark, pairs: list[tuple[Sample, str]]) -> float:
    return sum(bench.score(s, r).scores["accuracy"] for s, r in pairs) / len(pairs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gold_scores_all_wrong_scores_none(name: str) -> None:
    bench = benchmarks.get(name)
    samples = bench.load(Params(), None)
    responses = [CASES[name](s, i) for i, s in enumerate(samples)]
    assert (
        accuracy(bench, [(s, gold) for s, (gold, _) in zip(samples, responses, strict=True)]) == 1.0
    )
    assert (
        accuracy(bench, [(s, wrong) for s, (_, wrong) in zip(samples, responses, strict=True)])
        == 0.0
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_garbage_scores_zero_without_raising(name: str) -> None:
    bench = benchmarks.get(name)
    samples = bench.load(Params(), None)[:50]
    pairs = [(s, g) for s in samples for g in GARBAGE]
    assert accuracy(bench, pairs) == 0.0
    for s, g in pairs[:10]:
        score = bench.score(s, g)
        assert score.extracted is None and set(score.scores) == {"accuracy"}
