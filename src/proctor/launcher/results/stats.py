"""Paired statistics for comparing two runs sample by sample.

Two runs of the same benchmark score the same samples, so their difference is best
judged on the pairs: per-sample differences vary far less than the scores themselves.
A percentile bootstrap over the pairs gives a confidence interval for the mean
difference of any metric; for a 0/1 metric (accuracy) the exact McNemar test on the
discordant pairs gives a p-value. Both use only the standard library.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from proctor.harness.metrics import percentile

RESAMPLES = 2000
SEED = 1234
ALPHA = 0.05


@dataclass(frozen=True)
class PairedDifference:
    """The difference B - A of one metric over the samples both runs scored."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float | None  # exact McNemar, for 0/1 metrics only
    a_only: int  # 0/1 metrics: pairs where only A scored 1
    b_only: int  # ... and where only B did

    @property
    def significant(self) -> bool:
        """At 5%: McNemar's p for a 0/1 metric, else the bootstrap CI excluding 0."""
        if self.p_value is not None:
            return self.p_value < ALPHA
        return self.ci_low > 0 or self.ci_high < 0


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts.

    Under the null hypothesis each discordant pair is equally likely to favour either
    run, so the smaller count is Binomial(a_only + b_only, 1/2); the p-value doubles
    its lower tail (capped at 1). Exact integer arithmetic, any size.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("counts must be non-negative")
    n = a_only + b_only
    if n == 0:
        return 1.0
    term = 1  # comb(n, 0), then comb(n, k) by the recurrence
    tail = 0
    for k in range(min(a_only, b_only) + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return min(1.0, 2 * tail / 2**n)


def bootstrap_ci(
    diffs: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of paired differences.

    Each resample draws len(diffs) pairs with replacement; the same seed gives the same
    interval, so a report is reproducible.
    """
    n = len(diffs)
    if n == 0:
        raise ValueError("no pairs")
    values = list(diffs)
    rng = random.Random(seed)
    means = [math.fsum(rng.choices(values, k=n)) / n for _ in range(resamples)]
    tail = (1 - level) / 2 * 100
    return percentile(means, tail), percentile(means, 100 - tail)


def is_binary(values: Sequence[float]) -> bool:
    return all(v == 0.0 or v == 1.0 for v in values)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedDifference:
    """Mean difference B - A over pairs (a[i], b[i]), its bootstrap CI and, for 0/1, McNemar."""
    if len(a) != len(b):
        raise ValueError("a and b must pair up")
    if not a:
        raise ValueError("no pairs")
    n = len(a)
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    low, high = bootstrap_ci(diffs, resamples=resamples, seed=seed)
    a_only = b_only = 0
    p_value = None
    if is_binary(a) and is_binary(b):
        a_only = sum(1 for x, y in zip(a, b, strict=True) if x > y)
        b_only = sum(1 for x, y in zip(a, b, strict=True) if y > x)
        p_value = mcnemar_exact(a_only, b_only)
    return PairedDifference(
        n=n,
        mean_a=math.fsum(a) / n,
        mean_b=math.fsum(b) / n,
        diff=math.fsum(diffs) / n,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        a_only=a_only,
        b_only=b_only,
    )
