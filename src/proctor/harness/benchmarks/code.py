"""What the code benchmarks (HumanEval, MBPP) share: finding the code in a response, running
it with the benchmark's tests in a sandbox, and pass@k.

pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
Trained on Code", arXiv:2107.03374, figure 3): for a problem with n samples of which c pass,
1 - C(n-c, k) / C(n, k), averaged over problems. It needs ``n_repeats`` >= k.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from proctor.harness.benchmarks.base import Score
from proctor.harness.sandbox import Sandbox

KS = (1, 5, 10)
DEFAULT_TIMEOUT_S = 10.0
METRIC = "pass@1"  # the per-sample score: did this sample's code pass every test

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(response: str) -> str:
    """The code in a response: the first fenced block that defines something, else the first
    fenced block (an unclosed fence runs to the end), else the whole response."""
    blocks = _FENCE.findall(str(response))
    for block in blocks:
        if re.search(r"^\s*(?:def|class)\s", block, re.MULTILINE):
            return str(block)
    return str(blocks[0]) if blocks else str(response)


def defines(code: str, name: str) -> bool:
    """``code`` has a top-level ``def name(``."""
    return re.search(rf"^def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def run_tests(sandbox: Sandbox | None, program: str, timeout_s: float) -> Score:
    """Run ``program`` (solution + tests) in ``sandbox``; pass@1 is 1 when it ends cleanly.

    A sandbox failure raises SandboxError, which the runner records as an error (retried
    on resume), not as a failed test.
    """
    if sandbox is None:
        raise RuntimeError("a code benchmark scores only through a sandbox (with_sandbox)")
    verdict = sandbox.run(program, timeout_s)
    detail = f"{verdict.status}: {verdict.detail}" if verdict.detail else verdict.status
    return Score(extracted=detail, scores={METRIC: float(verdict.passed)})


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c of them correct) passes."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def aggregate(by_id: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, list[float]]:
    """pass@k per problem for every k in KS that some problem has n >= k samples for.

    Args:
        by_id: Each problem's scored samples (one scores dict per repeat).

    Returns:
        Metric name -> one value per problem with at least k samples.
    """
    counts = [(len(s), sum(1 for x in s if x.get(METRIC) == 1.0)) for s in by_id.values() if s]
    out: dict[str, list[float]] = {}
    for k in KS:
        values = [pass_at_k(n, c, k) for n, c in counts if n >= k]
        if values:
            out[f"pass@{k}"] = values
    return out
