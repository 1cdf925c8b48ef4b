"""A deterministic target and judge for judged benchmarks: every score is predictable.

The target (``answer``) replies ``@ans:<n>`` with n = 1 + (length of the last user message
mod 10), so a test computes each answer from the question alone. The judges grade by rules
on the text they are shown:

- ``rate``: single-answer grading, "Rating: [[n]]" for the last ``@ans:<n>`` in the prompt
  (for MT-Bench's second turn that is the second answer); ``[[n]]`` stays parseable.
- ``prefer_marked``: pairwise (arena-hard labels), prefers whichever answer holds "@ans:":
  the target's answers always do, a baseline's answers never do; so the model wins
  every game in either order, "[[A>>B]]" when it is A and "[[B>>A]]" when it is B.
- ``always_a``: pairwise with pure position bias: "[[A>B]]" whatever it is shown. Both
  orders cancel it: the win rate is exactly 0.5.
- ``alpaca_marked`` / ``alpaca_first``: the same two rules in AlpacaEval's "m"/"M" format.
- ``garbage``: never a verdict ("I cannot decide.").

Run standalone (for container tests): ``python -m tests.fakes.judge --port 0 --rule rate``
(add ``--target`` to serve the target's answers instead).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import threading
from collections.abc import Callable

from tests.fakes.endpoint import Body, FakeEndpoint, prompt_key

_ANS = re.compile(r"@ans:(\d+)")


def expected_answer(question: str) -> int:
    """The n of the target's ``@ans:<n>`` reply to ``question``."""
    return 1 + len(question) % 10


def answer(body: Body) -> str:
    """The target's reply to a request (its last user message)."""
    return f"@ans:{expected_answer(prompt_key(body))}"


def _text(body: Body) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    return str(body.get("prompt", ""))


def rate(body: Body) -> str:
    found = _ANS.findall(_text(body))
    return f"The answer is fine. Rating: [[{found[-1]}]]" if found else "Rating: [[1]]"


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    j = text.find(end, i + 1)
    return text[i + len(start) : j] if i >= 0 and j >= 0 else ""


def prefer_marked(body: Body) -> str:
    text = _text(body)
    a = _between(
        text, "<|The Start of Assistant A's Answer|>", "<|The End of Assistant A's Answer|>"
    )
    return "My final verdict: [[A>>B]]" if "@ans:" in a else "My final verdict: [[B>>A]]"


def always_a(body: Body) -> str:
    return "Assistant A is slightly better: [[A>B]]"


def _alpaca_outputs(body: Body) -> tuple[str, str]:
    text = _text(body)
    first = _between(text, '"model_identifier": "m"', '"model_identifier": "M"')
    second = text.split('"model_identifier": "M"', 1)[-1]
    return first, second


def alpaca_marked(body: Body) -> str:
    first, _ = _alpaca_outputs(body)
    return "m" if "@ans:" in first else "M"


def alpaca_first(body: Body) -> str:
    return "m"


def garbage(body: Body) -> str:
    return "I cannot decide."


RULES: dict[str, Callable[[Body], str]] = {
    "rate": rate,
    "prefer_marked": prefer_marked,
    "always_a": always_a,
    "alpaca_marked": alpaca_marked,
    "alpaca_first": alpaca_first,
    "garbage": garbage,
}


def judge_key(body: Body) -> str:
    """Count judge requests by their whole text (one key per distinct judgement)."""
    return _text(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rule", choices=sorted(RULES), default="rate")
    parser.add_argument("--target", action="store_true", help="serve the target's answers")
    args = parser.parse_args(argv)
    reply: Callable[[Body], str] = answer if args.target else RULES[args.rule]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeEndpoint(reply, port=args.port) as ep:
        print(ep.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
