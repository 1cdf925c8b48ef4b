"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from proctor.harness.metrics import (
    Tally,
    mean_stderr,
    percentile,
    report,
    summarize,
    wilson_interval,
)


def test_mean_and_stderr() -> None:
    # values 1, 2, 3, 4: mean 2.5, sample variance 5/3, SE sqrt(5/3 / 4) = 0.645497...
    mean, stderr = mean_stderr([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert stderr == pytest.approx(0.6454972243679028)
    assert mean_stderr([7.0]) == (7.0, 0.0)
    with pytest.raises(ValueError):
        mean_stderr([])


def test_wilson_interval_known_values() -> None:
    # 8 of 10, z = 1.96: center (0.8 + 0.19208) / 1.38416 = 0.716738,
    # half 1.96 / 1.38416 * sqrt(0.016 + 0.009604) = 0.226581 -> (0.490157, 0.943319);
    # z = 1.959964 (statsmodels' proportion_confint(8, 10, method="wilson")) moves the 6th digit.
    assert wilson_interval(8, 10, z=1.96) == pytest.approx((0.490157, 0.943319), abs=1e-6)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4901624, abs=1e-6)
    assert high == pytest.approx(0.9433178, abs=1e-6)
    # 0 of 10 stays inside [0, 1] and is not the degenerate (0, 0) of mean +/- 1.96 SE.
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775328, abs=1e-6)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7224672, abs=1e-6) and high == pytest.approx(1.0)


def test_summarize_uses_wilson_for_zeros_and_ones() -> None:
    summary = summarize([1.0] * 8 + [0.0] * 2)
    assert summary.value == 0.8 and summary.n == 10
    # SE = sqrt(p(1-p) n/(n-1) / n) = sqrt(0.16 / 9) = 0.133333
    assert summary.stderr == pytest.approx(0.4 / 3)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((0.4901624, 0.9433178), abs=1e-6)


def test_summarize_uses_a_normal_interval_otherwise() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    half = 1.959963984540054 * 0.6454972243679028
    assert (summary.ci_low, summary.ci_high) == pytest.approx((2.5 - half, 2.5 + half))
    # fractional scores in [0, 1] are not proportions: normal interval too
    partial = summarize([0.5, 1.0, 0.0, 0.5])
    assert partial.ci_low == pytest.approx(0.5 - 1.959963984540054 * partial.stderr)


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)
    assert percentile([3.0], 99) == 3.0
    assert percentile([4.0, 1.0], 0) == 1.0


def test_report_over_a_tally() -> None:
    tally = Tally()
    tally.add("scored", {"acc": 1.0, "len": 3.0}, 10, 2, 0.1)
    tally.add("scored", {"acc": 0.0, "len": 5.0}, 12, 4, 0.3)
    tally.add("error", {}, None, None, 9.0)
    out = report(tally, total=4)
    assert out["counts"] == {"total": 4, "scored": 2, "errors": 1}
    assert out["usage"] == {"prompt_tokens": 22, "completion_tokens": 6, "total_tokens": 28}
    assert out["latency_s"]["p50"] == pytest.approx(0.2)  # errors do not count
    assert list(out["metrics"]) == ["acc", "len"]
    assert out["metrics"]["acc"]["value"] == 0.5 and out["metrics"]["acc"]["n"] == 2
    assert out["metrics"]["len"]["stderr"] == pytest.approx(1.0)  # sd sqrt(2) / sqrt(2)
    assert set(out["metrics"]["len"]) == {"value", "stderr", "ci_low", "ci_high", "n"}


def test_report_with_nothing_scored() -> None:
    out = report(Tally(), total=3)
    assert out["metrics"] == {}
    assert out["latency_s"] == {"p50": None, "p90": None, "p99": None}
    assert not any(isinstance(v, float) and math.isnan(v) for v in out["usage"].values())
