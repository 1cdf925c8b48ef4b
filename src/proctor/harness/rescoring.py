"""Scoring a journal line again, without the endpoint (``inv rescore``).

A generative line holds the response text, so its benchmark's ``score`` runs on it again.
A benchmark whose lines hold something else (log-likelihood scoring journals every
choice's log-likelihood, token count and the chosen index, and no response) re-scores them
with its own ``rescore(sample, line)``, and raises NotRescorable when the line cannot be
(its choices are not the ones the benchmark has now). Without such a method, a line with
no response text is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

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


def rescore_line(benchmark: Benchmark, sample: Sample, line: Mapping[str, Any]) -> Score:
    """Score one scored journal line again (see the module docstring)."""
    if isinstance(benchmark, Rescores):
        return benchmark.rescore(sample, line)
    response = line.get("response")
    if not isinstance(response, str):
        raise NotRescorable(
            f"sample {sample.id} has no response text in the journal "
            "(a log-likelihood line?), and its benchmark cannot re-score it"
        )
    if CUT_MARK in response:
        raise NotRescorable(f"sample {sample.id}'s response was cut in the journal (too long)")
    return benchmark.score(sample, response)
