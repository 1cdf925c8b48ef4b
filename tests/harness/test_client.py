"""The endpoint client: error classes, backoff, body parsing, and retries against a real server."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from proctor.harness.client import (
    RETRY_AFTER_CAP_S,
    Client,
    Completion,
    api_key,
    backoff_delay,
    classify_status,
    endpoint_url,
    format_prompt,
    parse_body,
    parse_retry_after,
    split_reasoning,
)
from proctor.harness.errors import InputError
from proctor.harness.taskfile import Endpoint, Params
from tests.fakes.endpoint import FakeEndpoint, Fault, first


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, "rate_limit"),
        (408, "transient"),
        (500, "transient"),
        (502, "transient"),
        (503, "transient"),
        (400, "fatal"),
        (401, "fatal"),
        (404, "fatal"),
        (422, "fatal"),
    ],
)
def test_classify_status(status: int, kind: str) -> None:
    assert classify_status(status) == kind


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2024, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after("Thu, 28 Nov 2024 11:59:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_doubling_to_a_cap() -> None:
    rng = random.Random(0)
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (20, 30.0)]:
        delays = [backoff_delay(attempt, None, rng) for _ in range(2000)]
        assert min(delays) >= 0 and max(delays) <= bound
        assert max(delays) > 0.9 * bound  # spread over the whole range, not a fixed wait
        assert min(delays) < 0.1 * bound


def test_backoff_honours_retry_after_up_to_a_cap() -> None:
    rng = random.Random(0)
    assert backoff_delay(1, 12.0, rng) == 12.0
    assert backoff_delay(1, 0.0, rng) == 0.0
    assert backoff_delay(1, 3600.0, rng) == RETRY_AFTER_CAP_S


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("42", "42", None),
        ("<think>add them</think>\n\n42", "42", "add them"),
        ("<think>a</think>x<think>b</think>y", "xy", "a\n\nb"),
        ("add them</think>42", "42", "add them"),  # <think> was in the chat template
        ("4<think>cut off by max_tok", "4", "cut off by max_tok"),
        ("<think></think>42", "42", None),
    ],
)
def test_split_reasoning(text: str, answer: str, reasoning: str | None) -> None:
    assert split_reasoning(text) == (answer, reasoning)


@pytest.mark.parametrize(
    ("url", "kind", "expected"),
    [
        ("http://h:8000/v1/chat/completions", "chat", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1", "chat", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/", "completions", "http://h:8000/v1/completions"),
        ("http://h:8000", "chat", "http://h:8000/v1/chat/completions"),
        (
            "https://api.example.com/openai/v1",
            "chat",
            "https://api.example.com/openai/v1/chat/completions",
        ),
        ("http://h:8000/v1/completions", "completions", "http://h:8000/v1/completions"),
    ],
)
def test_endpoint_url(url: str, kind: Any, expected: str) -> None:
    assert endpoint_url(Endpoint(url=url, model_id="m", type=kind)) == expected


def test_format_prompt() -> None:
    msgs = [{"role": "user", "content": "q"}]
    assert format_prompt("q", "chat", None) == msgs
    assert format_prompt(msgs, "chat", "be brief") == [
        {"role": "system", "content": "be brief"},
        *msgs,
    ]
    with_system = [{"role": "system", "content": "own"}, *msgs]
    assert format_prompt(with_system, "chat", "be brief") == with_system
    assert format_prompt("q", "completions", "be brief") == "be brief\n\nq"
    assert format_prompt(with_system, "completions", None) == "own\n\nq"


def test_api_key_from_the_named_variable() -> None:
    named = Endpoint(url="http://h/v1", model_id="m", api_key_name="MY_KEY")
    assert api_key(named, {"MY_KEY": " sk-1 \n"}) == "sk-1"
    assert api_key(Endpoint(url="http://h/v1", model_id="m"), {}) is None
    for environ in ({}, {"MY_KEY": ""}, {"MY_KEY": "  "}):
        with pytest.raises(InputError, match="MY_KEY"):
            api_key(named, environ)


def test_parse_body_reads_text_reasoning_and_usage() -> None:
    raw = (
        b'{"choices": [{"message": {"content": "<think>hm</think>42", "reasoning_content": "pre"},'
        b' "finish_reason": "length"}], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}'
    )
    completion, failure = parse_body(raw, "chat")
    assert failure is None and completion is not None
    assert (completion.text, completion.reasoning) == ("42", "pre\n\nhm")
    assert completion.finish_reason == "length"
    assert (completion.prompt_tokens, completion.completion_tokens) == (5, 7)
    completion, failure = parse_body(
        b'{"choices": [{"text": " 7", "finish_reason": null}]}', "completions"
    )
    assert completion is not None and completion.text == " 7" and completion.prompt_tokens is None


@pytest.mark.parametrize(
    "raw",
    [b'{"choices": [{"mess', b"", b"[]", b'{"choices": []}', b'{"choices": [{}]}', b'{"x": 1}'],
)
def test_parse_body_malformed_is_transient(raw: bytes) -> None:
    completion, failure = parse_body(raw, "chat")
    assert completion is None and failure is not None
    assert (failure.kind, failure.code) == ("transient", "malformed")


# -- against a real HTTP server ----------------------------------------------------


def complete(
    endpoint: FakeEndpoint,
    prompt: Any = "hi",
    *,
    key: str | None = None,
    kind: Any = "chat",
    **params: Any,
) -> Completion:
    params = {"max_retries": 3, "request_timeout": 5, **params}
    spec = Endpoint(url=endpoint.base_url, model_id="m", type=kind)

    async def go() -> Completion:
        client = Client(spec, Params(**params), max_tokens=32, api_key=key, backoff_base_s=0.01)
        async with client:
            return await client.complete(format_prompt(prompt, kind, None), seed=7)

    return asyncio.run(go())


def test_success_sends_the_generation_params() -> None:
    with FakeEndpoint(lambda body: "<think>r</think>ok", record=True) as ep:
        result = complete(ep, temperature=0.5, stop=["\n"], key="sk-secret")
    assert (result.text, result.reasoning, result.attempts, result.error) == ("ok", "r", 1, None)
    assert result.latency_s > 0
    path, body, auth = ep.requests[0]
    assert path == "/v1/chat/completions"
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
        "max_tokens": 32,
        "seed": 7,
        "stop": ["\n"],
    }
    assert auth == "Bearer sk-secret"


def test_completions_endpoint_and_no_key_no_header() -> None:
    with FakeEndpoint(lambda body: "done", record=True) as ep:
        result = complete(ep, "prefix", kind="completions", top_p=0.9)
    path, body, auth = ep.requests[0]
    assert (path, body["prompt"], body["top_p"], auth) == ("/v1/completions", "prefix", 0.9, None)
    assert result.text == "done"


@pytest.mark.parametrize(
    "fault",
    [Fault(503), Fault(500), Fault(408), Fault(200, body='{"choices": []}'), Fault(200, body="{")],
)
def test_transient_faults_are_retried(fault: Fault) -> None:
    with FakeEndpoint(faults=first(2, fault)) as ep:
        result = complete(ep)
    assert (result.error, result.attempts, result.text) == (None, 3, "hi")
    assert ep.count("hi") == 3


def test_retries_are_bounded_and_the_last_error_is_kept() -> None:
    with FakeEndpoint(faults=first(100, Fault(503, body='{"error": {"message": "busy"}}'))) as ep:
        result = complete(ep, max_retries=2)
    assert result.attempts == 3 and ep.count("hi") == 3
    assert result.error is not None and str(result.error) == "http_503: busy"
    assert result.text == "" and result.finish_reason is None


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_fatal_at_once(status: int) -> None:
    with FakeEndpoint(faults=first(100, Fault(status))) as ep:
        result = complete(ep)
    assert result.error is not None and result.error.kind == "fatal"
    assert result.error.code == f"http_{status}"
    assert result.attempts == 1 and ep.count("hi") == 1


def test_429_waits_as_long_as_retry_after_says() -> None:
    with FakeEndpoint(faults=first(1, Fault(429, headers={"Retry-After": "0.4"}))) as ep:
        started = time.perf_counter()
        result = complete(ep)
        waited = time.perf_counter() - started
    assert result.error is None and result.attempts == 2
    assert waited >= 0.4


def test_a_hanging_server_times_out_and_is_retried() -> None:
    with FakeEndpoint(faults=first(1, Fault(hang_s=5))) as ep:
        result = complete(ep, request_timeout=0.3)
    assert result.error is None and result.attempts == 2


def test_timeouts_end_as_a_timeout_error() -> None:
    with FakeEndpoint(faults=first(100, Fault(hang_s=5))) as ep:
        result = complete(ep, request_timeout=0.2, max_retries=1)
    assert result.error is not None and result.error.code == "timeout"
    assert result.attempts == 2


def test_connection_refused_is_a_connection_error() -> None:
    endpoint = FakeEndpoint().start()
    endpoint.stop()  # the port is now closed
    result = complete(endpoint, max_retries=1)
    assert result.error is not None
    assert (result.error.kind, result.error.code, result.attempts) == ("transient", "connection", 2)


def test_concurrency_is_bounded_by_parallelism() -> None:
    with FakeEndpoint(delay=0.05) as ep:
        spec = Endpoint(url=ep.base_url, model_id="m")

        async def go() -> list[Completion]:
            async with Client(spec, Params(parallelism=3), max_tokens=8, api_key=None) as c:
                prompts = [format_prompt(f"p{i}", "chat", None) for i in range(12)]
                return await asyncio.gather(*(c.complete(p, seed=0) for p in prompts))

        results = asyncio.run(go())
    assert all(r.error is None for r in results)
    assert ep.total == 12 and ep.peak_in_flight == 3
