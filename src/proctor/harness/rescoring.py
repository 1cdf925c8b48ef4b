"""Scoring a journal line again, without the endpoint (``inv rescore``).

A generative line holds the response text, so its benchmark's ``score`` runs on it again.
A log-likelihood line (proctor.harness.loglikelihood) holds every choice's continuation,
length, log-likelihood and token count: acc and acc_norm are computed again from those,
after checking that the choices (and their contexts) are still the sample's; a line whose
choices changed is refused (NotRescorable). A benchmark with lines of yet another kind
defines ``rescore(sample, line)``. A line with neither is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from proctor.harness import loglikelihood
from proctor.harness.benchmarks.base import Benchmark, Sample, Score

CUT_MARK = "\n[proctor: cut here,"  # proctor.harness.untrusted.cut's marker


class NotRescorable(ValueError):
    """This journal line cannot be scored again; the message says why, in one line."""


@runtime_checkable
class Rescores(Protocol):
    """A benchmark whose journal lines are not re-scored from their response text."""

    def rescore(self, sample: Sample, line: Mapping[str, Any]) -> Score:
        """The score of a journaled (scored) line under the current scorer.

        Raises:
            NotRescorable: The line does not fit the sample any more (its choices changed).
        """
        ...


@dataclass(frozen=True)
class Rescored:
    """A line's new score, and other line fields it replaces (log-likelihood: the choice)."""

    score: Score
    fields: dict[str, Any]


def rescore_line(benchmark: Benchmark, sample: Sample, line: Mapping[str, Any]) -> Rescored:
    """Score one scored journal line again (see the module docstring)."""
    if isinstance(benchmark, Rescores):
        return Rescored(benchmark.rescore(sample, line), {})
    choices = loglikelihood.choices_of(sample)
    record = line.get("loglikelihood")
    if choices or record is not None:
        return _loglikelihood(sample, choices, record, line)
    response = line.get("response")
    if not isinstance(response, str):
        raise NotRescorable(
            f"sample {sample.id} has no response text in the journal, and its benchmark "
            "cannot re-score it"
        )
    if CUT_MARK in response:
        raise NotRescorable(f"sample {sample.id}'s response was cut in the journal (too long)")
    return Rescored(benchmark.score(sample, response), {})


def _loglikelihood(
    sample: Sample,
    choices: list[loglikelihood.Choice] | None,
    record: Any,
    line: Mapping[str, Any],
) -> Rescored:
    if not choices:
        raise NotRescorable(f"sample {sample.id} was scored by log-likelihood, but is not now")
    if not isinstance(record, dict) or not isinstance(record.get("choices"), list):
        raise NotRescorable(
            f"sample {sample.id} is scored by log-likelihood now, but its line has no "
            "per-choice log-likelihoods"
        )
    prompt = loglikelihood.shared_prompt(choices)
    now = [
        {
            **({"context": c.context[len(prompt) :]} if c.context != prompt else {}),
            "continuation": c.continuation,
            "chars": len(c.text),
        }
        for c in choices
    ]
    recorded = [
        {k: v for k, v in c.items() if k in ("context", "continuation", "chars")}
        for c in record["choices"]
        if isinstance(c, dict)
    ]
    if recorded != now or line.get("prompt") != prompt:
        raise NotRescorable(
            f"the choices of {sample.id} (or their context) changed since the run: "
            "their log-likelihoods are of other texts"
        )
    lls = [float(c["loglikelihood"]) for c in record["choices"]]
    scores, chosen, chosen_norm = loglikelihood.metrics(
        lls, [len(c.text) for c in choices], sample.target
    )
    fields = {
        "loglikelihood": {**record, "chosen": chosen, "chosen_norm": chosen_norm},
        "response": choices[chosen].continuation,
    }
    return Rescored(Score(extracted=chosen, scores=scores), fields)
