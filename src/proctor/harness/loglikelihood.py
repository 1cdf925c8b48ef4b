"""Log-likelihood multiple choice over a completions endpoint: acc and acc_norm.

Follows lm-evaluation-harness (``lm_eval/models/openai_completions.py`` and
``api_models.py`` for the request, ``lm_eval/api/task.py`` ``process_results`` for the
metrics). Each choice is one request: the prompt is context + continuation, with
``echo: true``, ``logprobs: 1``, ``max_tokens: 1`` and temperature 0 (``max_tokens: 0`` means
"no limit" to llama-cpp-python, so lm-eval's 1 is used; the generated token is ignored).
The echoed ``text_offset`` of each token says which tokens belong to the continuation:
every token that holds a character of it (a token straddling the boundary counts), so
nothing is re-tokenised on this side and any server's tokenizer is right by construction.
The choice's log-likelihood is the sum of those tokens' log-probabilities.

Metrics, as lm-eval defines them for ``output_type: multiple_choice``:

- ``acc``: 1 when ``argmax(lls)`` is the gold index;
- ``acc_norm``: 1 when ``argmax(lls / len(choice))`` is, where ``len(choice)`` is the
  choice text's length in characters (Python ``len`` of ``doc_to_choice``'s string, so the
  leading target delimiter is not counted; lm-eval's byte-length variant is ``acc_bytes``).

Ties go to the lowest index (numpy's argmax). A sample is one journal line; its
``loglikelihood`` field keeps every choice's continuation, log-likelihood and token count
and the chosen indices, so a later rescore needs no request (see ``rescore``).

Before a task sends samples, ``check_endpoint`` asks the server once for a greedy token
with its log-probability, then echoes the prompt plus that token: the two values must
agree (llama-cpp-python 0.3.36 shifts echoed values by one token for models without BOS,
abetlen/llama-cpp-python#1983; llama.cpp's own server does not echo at all).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proctor.harness import shaping
from proctor.harness.benchmarks.base import CHOICES, Choice, Sample
from proctor.harness.client import Client, Failure
from proctor.harness.journal import Entry
from proctor.harness.untrusted import loads

PROBE_PROMPT = "The capital of France is"
# Echo and generation compute the same distribution; on CPU the batched prompt pass and
# the one-token step round differently by about 1e-3. The llama-cpp-python bug is off
# by several nats.
PROBE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Scored:
    """What the endpoint said about one choice."""

    loglikelihood: float
    tokens: int
    prompt_tokens: int | None
    completion_tokens: int | None


def choices_of(sample: Sample) -> list[Choice] | None:
    """The sample's choices if it is scored by log-likelihood, else None."""
    found = sample.meta.get(CHOICES)
    return list(found) if found else None


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value, the first one on ties (numpy.argmax)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def metrics(
    lls: Sequence[float], lengths: Sequence[int], gold: int
) -> tuple[dict[str, float], int, int]:
    """(scores, chosen, chosen_norm): lm-eval's acc and acc_norm for one sample."""
    chosen = argmax(lls)
    chosen_norm = argmax([ll / n if n else -math.inf for ll, n in zip(lls, lengths, strict=True)])
    scores = {"acc": float(chosen == gold), "acc_norm": float(chosen_norm == gold)}
    return scores, chosen, chosen_norm


def request_body(model_id: str, prompt: str, seed: int) -> dict[str, Any]:
    """The body lm-eval's completions models send for a log-likelihood request."""
    return {
        "model": model_id,
        "prompt": prompt,
        "temperature": 0,
        "max_tokens": 1,
        "logprobs": 1,
        "echo": True,
        "seed": seed,
    }


def _fatal(code: str, message: str) -> Failure:
    return Failure("fatal", code, message)


def _logprobs(text: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, Failure | None]:
    """(whole body, choices[0].logprobs) of a 2xx body, or why not."""
    try:
        data = loads(text, allow_nan=True)
    except ValueError as e:
        return None, None, Failure("transient", "malformed", f"body is not JSON: {e}")
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None, Failure("transient", "malformed", "no choices in the response")
    lp = choices[0].get("logprobs")
    if not isinstance(lp, dict):
        return (
            None,
            None,
            _fatal("no_logprobs", "the reply has no logprobs (logprobs unsupported?)"),
        )
    return data, lp, None


def continuation_loglikelihood(
    lp: dict[str, Any], start: int, end: int
) -> tuple[float, int] | Failure:
    """Sum of the log-probabilities of the tokens holding characters [start, end) of the echo.

    Args:
        lp: A reply's ``choices[0].logprobs`` (tokens, token_logprobs, text_offset).
        start: The continuation's first character in the prompt (len(context)).
        end: One past its last (len(context + continuation)); tokens at or after it
            (the generated one) are not counted.
    """
    tokens, values, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(offsets, list)):
        return _fatal("no_logprobs", "logprobs lack tokens, token_logprobs or text_offset")
    if not len(tokens) == len(values) == len(offsets) or not offsets:
        return _fatal("bad_logprobs", "tokens, token_logprobs and text_offset differ in length")
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        return _fatal("bad_logprobs", "text_offset holds a non-integer")
    if offsets[0] != 0:  # a reply without echo starts its offsets at the prompt's end
        return _fatal("no_echo", "the reply does not echo the prompt's tokens (echo unsupported?)")
    total, count, covered = 0.0, 0, start
    for i, (token, value, offset) in enumerate(zip(tokens, values, offsets, strict=True)):
        if i + 1 < len(offsets):
            token_end = offsets[i + 1]
        else:
            token_end = offset + (len(token) if isinstance(token, str) else 0)
        if offset >= end or token_end <= start:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return _fatal("bad_logprobs", f"token {i} of the continuation has no log-probability")
        total += float(value)
        count += 1
        covered = max(covered, token_end)
    if count == 0 or covered < end:
        return _fatal("no_echo", "the echoed tokens do not cover the continuation")
    return total, count


async def score_choice(
    client: Client, choice: Choice, seed: int
) -> tuple[Scored | None, Failure | None, float, int]:
    """Ask for one choice's log-likelihood: (scored, failure, latency, attempts)."""
    prompt = choice.context + choice.continuation
    start, end = len(choice.context), len(prompt)

    def parse(text: str) -> tuple[Scored | None, Failure | None]:
        data, lp, failure = _logprobs(text)
        if failure is not None:
            return None, failure
        assert data is not None and lp is not None
        found = continuation_loglikelihood(lp, start, end)
        if isinstance(found, Failure):
            return None, found
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return (
            Scored(
                loglikelihood=found[0],
                tokens=found[1],
                prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
                completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
            ),
            None,
        )

    body = shaping.merge(
        request_body(client.endpoint.model_id, prompt, seed), client.params.extra_body
    )
    return await client.send(body, parse)


def shared_prompt(choices: Sequence[Choice]) -> str:
    """The journal's prompt: the context all choices share, else their common beginning."""
    contexts = [c.context for c in choices]
    first = contexts[0]
    if all(c == first for c in contexts):
        return first
    n = 0
    while all(len(c) > n and c[n] == first[n] for c in contexts):
        n += 1
    return first[:n]


async def evaluate(client: Client, sample: Sample, repeat: int, seed: int) -> Entry:
    """Score every choice of ``sample`` (concurrently) into its journal entry."""
    choices = choices_of(sample)
    assert choices, f"{sample.id} is not a log-likelihood sample"
    outcomes = await asyncio.gather(*(score_choice(client, c, seed) for c in choices))
    prompt = shared_prompt(choices)
    attempts = sum(o[3] for o in outcomes)
    latency = max(o[2] for o in outcomes)  # the choices are in flight together
    failures = [(i, o[1]) for i, o in enumerate(outcomes) if o[1] is not None]
    common: dict[str, Any] = {
        "id": sample.id,
        "repeat": repeat,
        "prompt": prompt,
        "reasoning": None,
        "finish_reason": None,
        "latency_s": round(latency, 6),
        "attempts": attempts,
        "target": sample.target,
    }
    if failures:
        i, failure = failures[0]
        return Entry(
            status="error",
            response=None,
            prompt_tokens=None,
            completion_tokens=None,
            extracted=None,
            scores={},
            error=f"choice {i}: {failure}",
            **common,
        )
    scored = [o[0] for o in outcomes]
    assert all(s is not None for s in scored)
    lls = [s.loglikelihood for s in scored if s is not None]
    scores, chosen, chosen_norm = metrics(lls, [len(c.text) for c in choices], sample.target)
    record = {
        "chosen": chosen,
        "chosen_norm": chosen_norm,
        "choices": [
            {
                **({"context": c.context[len(prompt) :]} if c.context != prompt else {}),
                "continuation": c.continuation,
                "chars": len(c.text),
                "loglikelihood": s.loglikelihood,
                "tokens": s.tokens,
            }
            for c, s in zip(choices, scored, strict=True)
            if s is not None
        ],
    }

    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    return Entry(
        status="scored",
        response=choices[chosen].continuation,
        prompt_tokens=total([s.prompt_tokens for s in scored if s is not None]),
        completion_tokens=total([s.completion_tokens for s in scored if s is not None]),
        extracted=chosen,
        scores=scores,
        error=None,
        loglikelihood=record,
        **common,
    )


def rescore(record: dict[str, Any], target: int) -> dict[str, float]:
    """acc and acc_norm again from a journal line's ``loglikelihood`` field, sending nothing."""
    choices = record["choices"]
    scores, _, _ = metrics(
        [c["loglikelihood"] for c in choices], [c["chars"] for c in choices], target
    )
    return scores


class EndpointCheckError(Exception):
    """The endpoint's echoed prompt log-probabilities cannot be trusted."""


async def check_endpoint(client: Client, seed: int) -> str:
    """Refuse an endpoint whose echoed log-probabilities disagree with its generation.

    Generates one greedy token after PROBE_PROMPT with its log-probability, then scores
    that token as a continuation of PROBE_PROMPT through the echo path. Returns a line for
    the log; raises EndpointCheckError with one line when they disagree or echo fails.
    """
    body = {
        "model": client.endpoint.model_id,
        "prompt": PROBE_PROMPT,
        "temperature": 0,
        "max_tokens": 1,
        "logprobs": 1,
        "seed": seed,
    }

    def parse_generated(text: str) -> tuple[tuple[str, float] | None, Failure | None]:
        data, lp, failure = _logprobs(text)
        if failure is not None:
            return None, failure
        assert data is not None and lp is not None
        token = data["choices"][0].get("text")
        values = lp.get("token_logprobs")
        if not isinstance(token, str) or not token or not isinstance(values, list) or not values:
            return None, _fatal("no_logprobs", "the generated token has no log-probability")
        value = values[-1]
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None, _fatal("no_logprobs", "the generated token has no log-probability")
        return (token, float(value)), None

    body = shaping.merge(body, client.params.extra_body)
    generated, failure, _, _ = await client.send(body, parse_generated)
    where = f"endpoint {client.url}"
    if failure is not None or generated is None:
        raise EndpointCheckError(f"{where} failed the log-likelihood check: {failure}")
    token, expected = generated
    scored, failure, _, _ = await score_choice(client, Choice(PROBE_PROMPT, token, token), seed)
    if failure is not None or scored is None:
        raise EndpointCheckError(
            f"{where} cannot score by log-likelihood (needs echo with logprobs): {failure}"
        )
    got = scored.loglikelihood
    if abs(got - expected) > PROBE_TOLERANCE:
        raise EndpointCheckError(
            f"{where} returns wrong prompt log-probabilities: it generates {token!r} after "
            f"{PROBE_PROMPT!r} with logprob {expected:.4f} but echoes it with {got:.4f} "
            "(a server that shifts echoed logprobs, e.g. llama-cpp-python 0.3.36 without BOS: "
            "see docs/architecture.md); refusing to score against it"
        )
    return f"log-likelihood check passed: {token!r} generated {expected:.4f}, echoed {got:.4f}"
