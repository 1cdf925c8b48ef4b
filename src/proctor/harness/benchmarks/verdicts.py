"""Reading verdicts out of judge replies, as the benchmarks' reference implementations do.

- ``rating``: FastChat llm_judge's single-answer format ``[[rating]]`` (common.py,
  ``one_score_pattern`` then ``one_score_pattern_backup``: the first ``[[x]]``, else the
  first ``[x]``). FastChat takes any number it finds; here a rating outside the scale is
  no verdict either (a "[[0]]" on a 1-10 scale is an error of that sample, not a score).
- ``arena_label``: arena-hard-auto's pairwise labels (``[[A>>B]]`` ... ``[[B>>A]]``): the
  last match of ``\\[\\[([AB<>=]+)\\]\\]``, else of ``\\[([AB<>=]+)\\]``, in the upper-cased reply.

Every parser raises UnparseableVerdict, quoting the reply, when it finds nothing usable.
"""

from __future__ import annotations

import ast
import re

from proctor.harness.benchmarks.base import UnparseableVerdict

_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
_ARENA = (re.compile(r"\[\[([AB<>=]+)\]\]"), re.compile(r"\[([AB<>=]+)\]"))
_SNIPPET = 200

# arena-hard-auto's labels, as the model's preference on a 5-point scale, seen from the
# answer in position A: +2 A much better ... -2 B much better.
ARENA_LABELS = {
    "A>>B": 2,
    "A>B": 1,
    "A=B": 0,
    "B=A": 0,
    "B>A": -1,
    "A<B": -1,
    "B>>A": -2,
    "A<<B": -2,
    "B<A": 1,
    "B<<A": 2,
}


def unparseable(expected: str, reply: str) -> UnparseableVerdict:
    """The error for a reply without a verdict, quoting the reply's start."""
    snippet = " ".join(reply.split())[:_SNIPPET]
    return UnparseableVerdict(f"unparseable verdict (expected {expected}): {snippet!r}")


def rating(reply: str, low: float, high: float) -> float:
    """The ``[[rating]]`` of a single-answer judgement, within [low, high]."""
    match = _RATING.search(reply) or _RATING_BACKUP.search(reply)
    if match is None:
        raise unparseable(f"[[rating]] from {low:g} to {high:g}", reply)
    value = float(ast.literal_eval(match.group(1)))
    if not low <= value <= high:
        raise unparseable(f"[[rating]] from {low:g} to {high:g}, got {value:g}", reply)
    return value


def arena_label(reply: str) -> str:
    """The verdict label (``A>>B``, ``A>B``, ``A=B``, ``B>A``, ``B>>A``, ...) of a pairwise reply."""
    text = reply.upper()
    for pattern in _ARENA:
        found = [m for m in pattern.findall(text) if m]
        if found:
            label = str(found[-1]).strip("\n")
            if label in ARENA_LABELS:
                return label
            break
    raise unparseable("a label such as [[A>B]] or [[B>>A]]", reply)
