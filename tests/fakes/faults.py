"""Seeded fault mixes for the fake endpoint: every request's fate is fixed in advance.

The fate of a request depends only on (seed, prompt key, nth request for that key), never
on arrival order, so a run with retries, resumes and kills meets the same faults as an
uninterrupted one would, request by request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from tests.fakes.endpoint import Body, Fault, FaultRule

SERVER_ERROR = Fault(500)
UNAVAILABLE = Fault(503)
RATE_LIMITED = Fault(429, headers={"Retry-After": "1"})
RESET = Fault(cut="reset")
TRUNCATED = Fault(cut="truncate")
MALFORMED = Fault(200, body='{"choices": [{"message": {"content": "unterminated')
EMPTY_CHOICES = Fault(200, body='{"id": "x", "choices": []}')
HANG = Fault(hang_s=30.0)  # past any sane request_timeout in tests
SLOW = Fault(hang_s=0.3)  # slow but within the timeout: answers normally


def fraction(seed: int, key: str, nth: int) -> float:
    """A uniform number in [0, 1) fixed by its arguments."""
    digest = hashlib.sha256(f"{seed}|{key}|{nth}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def mix(
    rates: Mapping[Fault, float], seed: int = 0, *, spare_after: int | None = None
) -> FaultRule:
    """A rule that gives each request one fault with the given probabilities (or none).

    ``spare_after``: requests beyond this count for a key always succeed, which bounds how
    many tries a sample needs (useful to test exact retry accounting).
    """
    total = sum(rates.values())
    assert total <= 1, "fault rates add up to more than 1"

    def rule(key: str, nth: int, body: Body) -> Fault | None:
        if spare_after is not None and nth > spare_after:
            return None
        u = fraction(seed, key, nth)
        edge = 0.0
        for fault, rate in rates.items():
            edge += rate
            if u < edge:
                return fault
        return None

    return rule
