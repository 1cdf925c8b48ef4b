"""Aggregate per-sample scores into the numbers results.json reports.

Every metric gets its mean, standard error, a 95% confidence interval and n. A metric
whose values are all 0 or 1 is a proportion and gets the Wilson score interval, which
stays inside [0, 1] and behaves at p = 0 or 1 and small n where mean +/- 1.96 SE does
not; any other metric gets mean +/- 1.96 SE.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the scored samples."""

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation, n - 1); SE 0 if n < 2."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, 0.0
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion of ``successes`` out of ``n``."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def summarize(values: Sequence[float]) -> MetricSummary:
    """Mean, SE, 95% CI (Wilson when every value is 0 or 1) and n of one metric."""
    mean, stderr = mean_stderr(values)
    n = len(values)
    if all(v == 0.0 or v == 1.0 for v in values):
        low, high = wilson_interval(round(mean * n), n)
    else:
        low, high = mean - Z95 * stderr, mean + Z95 * stderr
    return MetricSummary(mean, stderr, low, high, n)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Tally:
    """What the metrics need from each journal line, kept compactly (arrays of doubles).

    100,000 samples with one metric cost about 2 MB here, where the journal lines would
    cost hundreds: the journal feeds every line it keeps to add() and forgets the rest.
    """

    def __init__(self) -> None:
        self.scored = 0
        self.errors = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.scores: dict[str, array[float]] = {}
        self.latencies: array[float] = array("d")

    def add(
        self,
        status: str,
        scores: dict[str, float] | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        latency_s: float | None,
    ) -> None:
        """Count one finished sample; only scored ones contribute scores and latency."""
        self.prompt_tokens += prompt_tokens or 0
        self.completion_tokens += completion_tokens or 0
        if status != "scored":
            self.errors += 1
            return
        self.scored += 1
        for name, value in (scores or {}).items():
            self.scores.setdefault(name, array("d")).append(float(value))
        if latency_s is not None:
            self.latencies.append(float(latency_s))


def report(tally: Tally, total: int) -> dict[str, Any]:
    """The metrics, counts, usage and latency sections of results.json.

    Args:
        tally: Every finished sample of the task (resumed ones included).
        total: How many (sample, repeat) pairs the task has.
    """
    latency: dict[str, float | None] = {"p50": None, "p90": None, "p99": None}
    if tally.latencies:
        latency = {f"p{q}": percentile(tally.latencies, q) for q in (50, 90, 99)}
    return {
        "metrics": {name: asdict(summarize(v)) for name, v in sorted(tally.scores.items())},
        "counts": {"total": total, "scored": tally.scored, "errors": tally.errors},
        "usage": {
            "prompt_tokens": tally.prompt_tokens,
            "completion_tokens": tally.completion_tokens,
            "total_tokens": tally.prompt_tokens + tally.completion_tokens,
        },
        "latency_s": latency,
    }
