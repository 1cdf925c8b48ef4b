"""Async client for OpenAI-compatible chat and completions endpoints.

One aiohttp session for the whole task: measured against a 100 ms server at 64-way
concurrency, the openai SDK managed about 56 requests/s and plain aiohttp about 555
(ideal 640), so the SDK is not used. Concurrency is bounded by a semaphore of
``params.parallelism`` held only while a request is on the wire, so a sample backing
off never blocks another one's request.

Errors are classified the way inspect_ai does it: ``rate_limit`` (429), ``transient``
(connection errors, timeouts, 408, 5xx, malformed bodies or empty ``choices``) and
``fatal`` (any other 4xx, bad URL). Only the first two are retried, at most
``params.max_retries`` times, with exponential backoff and full jitter, waiting what
``Retry-After`` asks when the server says.

The endpoint is not trusted (docs/architecture.md, "Threat model"): bodies are read
under a size bound and redirects are refused (bodies.py), and every text kept from a
reply, error or response, has the API key scrubbed and control characters escaped
(untrusted.py) before the runner stores or prints it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp

from proctor.harness import bodies, shaping
from proctor.harness.benchmarks.base import Message
from proctor.harness.errors import InputError
from proctor.harness.taskfile import Endpoint, Params
from proctor.harness.untrusted import Scrubber, loads, printable, secrets_from_env

ErrorKind = Literal["rate_limit", "transient", "fatal"]

BACKOFF_BASE_S = 1.0  # the first retry waits up to this long, doubling after that
BACKOFF_CAP_S = 30.0
# A server asking for more than this is treated as asking for this: a task should not
# sleep for an hour on one header, and the retry bound still ends it.
RETRY_AFTER_CAP_S = 60.0
_SNIPPET = 200  # characters of an error body kept in the message


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a request produced no usable response.

    Attributes:
        kind: How to react: retry later (rate_limit), retry (transient) or give up (fatal).
        code: A short class for reports: ``http_503``, ``timeout``, ``connection``, ``malformed``.
        message: One line of detail.
        retry_after: Seconds the server asked us to wait, if it said.
    """

    kind: ErrorKind
    code: str
    message: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


T = TypeVar("T")
# Reads a 2xx reply's (scrubbed) text: (value, None) or (None, why not).
Parse = Callable[[str], tuple[T | None, Failure | None]]


@dataclass(frozen=True, slots=True)
class Completion:
    """The outcome of one request, retries included.

    ``text`` has ``<think>`` blocks moved into ``reasoning``; ``latency_s`` is that of
    the last attempt (queueing and backoff excluded); ``error`` is set when no attempt
    gave a usable response, and then the other fields are empty.
    """

    text: str
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    attempts: int
    error: Failure | None = None


def classify_status(status: int) -> ErrorKind:
    """How to react to a non-2xx HTTP status."""
    if status == 429:
        return "rate_limit"
    if status == 408 or status >= 500:
        return "transient"
    return "fatal"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate leaves "-0000" naive
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
    base: float = BACKOFF_BASE_S,
    cap: float = BACKOFF_CAP_S,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    Full jitter (uniform over [0, min(cap, base * 2**(attempt-1))]) spreads retries of
    many concurrent requests instead of sending them again in one burst. A server's
    ``Retry-After`` wins, up to RETRY_AFTER_CAP_S.
    """
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP_S)
    return rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def api_key(endpoint: Endpoint, environ: Mapping[str, str] = os.environ) -> str | None:
    """The API key from the variable named by ``endpoint.api_key_name``, or None if unnamed.

    Raises:
        InputError: The variable is named but empty or unset; sending without the key
            would only collect 401s.
    """
    name = endpoint.api_key_name
    if not name:
        return None
    value = environ.get(name, "").strip()
    if not value:
        raise InputError(
            f"environment variable {name} (endpoint.api_key_name) is empty or not set; "
            "export it or add it to the .env file"
        )
    return value


def endpoint_url(endpoint: Endpoint) -> str:
    """The URL to POST to: a full ``.../completions`` URL as given, else one built from a base.

    ``http://h:8000/v1`` and ``http://h:8000`` both become ``.../v1/chat/completions``
    (or ``.../v1/completions`` for a completions endpoint).
    """
    url = endpoint.url.rstrip("/")
    path = "/chat/completions" if endpoint.type == "chat" else "/completions"
    if url.endswith("/completions"):
        return url
    if url.endswith("/v1"):
        return url + path
    if urlsplit(url).path == "":
        return url + "/v1" + path
    return url  # some other path: the server knows its own routes


def format_prompt(
    prompt: list[Message] | str, endpoint_type: str, system_prompt: str | None
) -> list[Message] | str:
    """What goes into the request: chat messages, or one string for a completions endpoint.

    A plain-text prompt on a chat endpoint becomes one user message; messages on a
    completions endpoint are joined by blank lines. ``system_prompt`` comes first
    unless the benchmark already starts with a system message.
    """
    if endpoint_type == "chat":
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if system_prompt and (not messages or messages[0].get("role") != "system"):
            messages = [{"role": "system", "content": system_prompt}, *messages]
        return messages
    text = prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)
    return f"{system_prompt}\n\n{text}" if system_prompt else text


_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Move ``<think>...</think>`` blocks out of ``text``: returns (answer, reasoning or None).

    Also handles a block whose ``<think>`` was in the chat template (text starts with the
    reasoning and a lone ``</think>``) and one cut off by max_tokens (no ``</think>``).
    """
    if "think>" not in text:
        return text, None
    parts: list[str] = []
    close, open_ = text.find("</think>"), text.find("<think>")
    if close != -1 and (open_ == -1 or close < open_):
        parts.append(text[:close])
        text = text[close + len("</think>") :]

    def take(match: re.Match[str]) -> str:
        parts.append(match.group(1))
        return ""

    text = _THINK.sub(take, text)
    if "<think>" in text:
        text, _, unclosed = text.partition("<think>")
        parts.append(unclosed)
    reasoning = "\n\n".join(p.strip() for p in parts if p.strip())
    return text.strip(), reasoning or None


def _one_line(text: str) -> str:
    return printable(" ".join(text.split())[:_SNIPPET], lines=False)


def _http_failure(status: int, raw: bytes | str, retry_after: str | None) -> Failure:
    kind = classify_status(status)
    try:
        detail = loads(raw, allow_nan=True)["error"]
        detail = detail["message"] if isinstance(detail, dict) else detail
    except (ValueError, KeyError, TypeError):
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    wait = parse_retry_after(retry_after) if kind != "fatal" else None
    return Failure(kind, f"http_{status}", _one_line(str(detail)) or "(empty body)", wait)


def _malformed(message: str) -> Failure:
    # A truncated or empty body is usually a server or proxy hiccup: worth a retry.
    return Failure("transient", "malformed", message)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_body(raw: bytes | str, endpoint_type: str) -> tuple[Completion | None, Failure | None]:
    """Read a 2xx body into a Completion (latency and attempts left 0), or say why not."""
    try:
        # NaN/-Infinity allowed: servers write them for logprobs the way Python does.
        data = loads(raw, allow_nan=True)
    except ValueError as e:
        return None, _malformed(f"body is not JSON ({len(raw)} bytes): {e}")
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, _malformed("no choices in the response")
    choice = choices[0]
    reasoning_parts: list[str] = []
    if endpoint_type == "chat":
        message = choice.get("message")
        if not isinstance(message, dict):
            return None, _malformed("choices[0] has no message")
        content = message.get("content")
        # vLLM and llama.cpp say reasoning_content; some gateways say reasoning.
        extra = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(extra, str) and extra.strip():
            reasoning_parts.append(extra.strip())
    else:
        content = choice.get("text")
        if "text" not in choice:
            return None, _malformed("choices[0] has no text")
    if content is not None and not isinstance(content, str):
        return None, _malformed("choices[0] content is not a string")
    text, think = split_reasoning(content or "")
    if think:
        reasoning_parts.append(think)
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    finish = choice.get("finish_reason")
    return (
        Completion(
            text=text,
            reasoning="\n\n".join(reasoning_parts) or None,
            finish_reason=finish if isinstance(finish, str) else None,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            latency_s=0.0,
            attempts=0,
        ),
        None,
    )


class Client:
    """Sends prompts to one endpoint with bounded concurrency, timeouts and retries.

    Use as ``async with Client(...) as client: await client.complete(prompt, seed=...)``.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        params: Params,
        *,
        max_tokens: int,
        api_key: str | None,
        headers: Mapping[str, str] | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare a client; the session opens in ``__aenter__``.

        Args:
            endpoint: URL, model id and endpoint type.
            params: Generation parameters plus parallelism, request_timeout and max_retries.
            max_tokens: params.max_tokens, or the benchmark's default when that is unset.
            api_key: Sent as a bearer token when not None (see api_key()).
            headers: Extra headers with their values (shaping.request_headers()).
            backoff_base_s: First-retry backoff bound; tests make it small.
            rng: Source of backoff jitter.
        """
        self.url = endpoint_url(endpoint)
        self.endpoint = endpoint
        self.params = params
        self.max_tokens = max_tokens
        self._headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": bodies.ACCEPT_ENCODING,
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._headers.update(headers or {})
        self.scrub = Scrubber([*secrets_from_env(api_key), *(headers or {}).values()])
        self._backoff_base_s = backoff_base_s
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(params.parallelism)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        # The connector never makes a request wait for a socket: the semaphore is the bound.
        connector = aiohttp.TCPConnector(limit=self.params.parallelism, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.params.request_timeout),
            headers=self._headers,
            auto_decompress=False,  # bodies.read_limited inflates, under its bound
            cookie_jar=aiohttp.DummyCookieJar(),  # an API sets no cookies worth keeping
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def body(self, prompt: list[Message] | str, seed: int) -> dict[str, Any]:
        """The JSON request body for an already formatted prompt (see format_prompt)."""
        p = self.params
        body: dict[str, Any] = {"model": self.endpoint.model_id}
        body["messages" if self.endpoint.type == "chat" else "prompt"] = prompt
        body["temperature"] = p.temperature
        if p.top_p is not None:
            body["top_p"] = p.top_p
        body["max_tokens"] = self.max_tokens
        body["seed"] = seed
        if p.stop:
            body["stop"] = p.stop
        return shaping.merge(body, p.extra_body)

    async def complete(self, prompt: list[Message] | str, *, seed: int) -> Completion:
        """Send one prompt, retrying what is retryable; never raises for endpoint trouble."""
        result, failure, latency, attempts = await self.send(
            self.body(prompt, seed), lambda text: parse_body(text, self.endpoint.type)
        )
        if result is None:
            return Completion("", None, None, None, None, latency, attempts, failure)
        return Completion(
            self.scrub(result.text),
            self.scrub.optional(result.reasoning),
            result.finish_reason,
            result.prompt_tokens,
            result.completion_tokens,
            latency,
            attempts,
        )

    async def send(
        self, body: dict[str, Any], parse: Parse[T]
    ) -> tuple[T | None, Failure | None, float, int]:
        """POST ``body``, retrying what is retryable, and read a 2xx reply with ``parse``.

        ``parse`` gets the scrubbed body text and returns (value, None) or (None, Failure);
        the log-likelihood scorer uses it to read logprobs. Returns (value, failure,
        latency of the last attempt, attempts); never raises for endpoint trouble.
        """
        payload = json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            result, failure, latency = await self._attempt(payload, parse)
            if result is not None:
                return result, None, latency, attempt
            assert failure is not None
            failure = Failure(
                failure.kind,
                failure.code,
                printable(self.scrub(failure.message), lines=False),
                failure.retry_after,
            )
            if failure.kind == "fatal" or attempt > self.params.max_retries:
                return None, failure, latency, attempt
            delay = backoff_delay(
                attempt, failure.retry_after, self._rng, base=self._backoff_base_s
            )
            await asyncio.sleep(delay)

    async def _attempt(
        self, payload: bytes, parse: Parse[T]
    ) -> tuple[T | None, Failure | None, float]:
        if self._session is None:
            raise RuntimeError("Client used outside 'async with'")
        async with self._semaphore:
            started = time.perf_counter()
            try:
                status, raw, retry_after = await self._post(payload)
            except bodies.BodyError as e:
                kind: ErrorKind = "transient" if e.code == "malformed" else "fatal"
                return None, Failure(kind, e.code, str(e)), time.perf_counter() - started
            except TimeoutError:
                failure = Failure(
                    "transient", "timeout", f"no response in {self.params.request_timeout:g}s"
                )
                return None, failure, time.perf_counter() - started
            except aiohttp.ClientPayloadError as e:
                return None, _malformed(f"truncated body: {e}"), time.perf_counter() - started
            except aiohttp.ClientConnectionError as e:
                failure = Failure("transient", "connection", _one_line(str(e) or type(e).__name__))
                return None, failure, time.perf_counter() - started
            except aiohttp.ClientError as e:  # e.g. an invalid URL: no retry will fix it
                failure = Failure("fatal", "client", _one_line(f"{type(e).__name__}: {e}"))
                return None, failure, time.perf_counter() - started
            latency = time.perf_counter() - started
        # The key is scrubbed from the whole body before any of it is parsed or kept.
        text = self.scrub(raw.decode("utf-8", "replace"))
        if not 200 <= status < 300:
            return None, _http_failure(status, text, retry_after), latency
        result, problem = parse(text)
        return result, problem, latency

    async def _post(self, payload: bytes) -> tuple[int, bytes, str | None]:
        """POST, following only same-origin 307/308; (status, decoded body, Retry-After)."""
        assert self._session is not None
        url = self.url
        for _ in range(bodies.MAX_REDIRECTS + 1):
            async with self._session.post(url, data=payload, allow_redirects=False) as response:
                if 300 <= response.status < 400:
                    url = bodies.redirect_target(
                        url, response.status, response.headers.get("Location")
                    )
                    continue
                length = response.content_length
                raw = await bodies.read_limited(
                    response.content.iter_chunked(bodies.CHUNK),
                    response.headers.get("Content-Encoding", ""),
                    length,
                    self.params.max_response_bytes,
                )
                return response.status, raw, response.headers.get("Retry-After")
        raise bodies.BodyError("redirects", f"more than {bodies.MAX_REDIRECTS} redirects")
