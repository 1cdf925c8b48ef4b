"""A real OpenAI-compatible HTTP server (on 127.0.0.1 by default), for tests and benches.

It serves ``POST /v1/chat/completions``, ``POST /v1/completions`` and ``GET /v1/models``
from an aiohttp application running on its own event loop in a background thread, so
the code under test talks to it over a real socket.

In a test::

    from tests.fakes.endpoint import Fault, FakeEndpoint, first

    with FakeEndpoint(answer=lambda body: "42", delay=0.05,
                      faults=first(2, Fault(503))) as ep:
        ep.base_url          # "http://127.0.0.1:<port>/v1"
        ep.chat_url          # base_url + "/chat/completions"
        ep.completions_url   # base_url + "/completions"
        ...                  # run the code under test
        ep.count("What is 2+2?")   # POSTs received for that prompt key
        ep.counts()                # a copy of the whole Counter
        ep.total                   # all POSTs
        ep.first_request_at        # time.time() of the first POST, or None
        ep.peak_in_flight          # most POSTs being answered at once
        ep.requests                # [(path, body, Authorization header)] if record=True
        ep.headers                 # every request's headers (a dict each) if record=True

Arguments:

- ``answer(body) -> str``: the completion text for a request's JSON body (default: echo
  the prompt key). Usage counts whitespace-separated words.
- ``delay``: seconds every POST waits before answering.
- ``faults(key, nth, body) -> Fault | None``: called with the prompt key and how many
  POSTs that key has received (1 for the first); a Fault replaces the normal answer.
  ``first(n, fault)`` builds one that fails the first n requests of every key.
  ``Fault(503)``, ``Fault(429, headers={"Retry-After": "1"})``, ``Fault(hang_s=30)``
  (answers normally after hanging), ``Fault(200, body='{"choices": []}')``.
- ``key(body) -> str``: what requests are counted by. Default: the last user message's
  text for chat, the prompt for completions.
- ``record``: keep every request for inspection.
- ``logprob(prefix, token) -> float``: a completions request with ``logprobs`` gets one
  generated token (the answer's first word) and OpenAI-style logprobs, with the prompt's
  tokens (see ``tokenize``) and text offsets when it asks for ``echo``; ``echo_logprobs``
  "shifted" reproduces llama-cpp-python's off-by-one, "none" a server that cannot echo.
- ``host``, ``port``: where to listen (default 127.0.0.1 and a free port).

Standalone, for benches and container tests (prints its URL, serves until SIGTERM)::

    python -m tests.fakes.endpoint --port 8000 --delay 0.1 --answer echo
    python -m tests.fakes.endpoint --port 0 --answer "const:The answer is 42."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Body = dict[str, Any]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: usable as a dict key
class Fault:
    """An abnormal reply: a status with headers and body, a hang before the normal answer,
    or a broken connection (``cut``: "reset" aborts after the first bytes of a 200 reply,
    "truncate" closes cleanly before its promised Content-Length)."""

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    hang_s: float | None = None
    cut: str | None = None


FaultRule = Callable[[str, int, Body], Fault | None]


def first(n: int, fault: Fault) -> FaultRule:
    """A fault rule that answers the first ``n`` requests of every prompt key with ``fault``."""
    return lambda key, nth, body: fault if nth <= n else None


def prompt_key(body: Body) -> str:
    """The last user message's text (chat) or the prompt (completions)."""
    if "messages" in body:
        users = [m for m in body["messages"] if m.get("role") == "user"]
        return str(users[-1]["content"]) if users else ""
    return str(body.get("prompt", ""))


def echo(body: Body) -> str:
    """Answer with the prompt key itself."""
    return prompt_key(body)


# A token is a run of non-space characters with the whitespace before it (" Paris").
_TOKEN = re.compile(r"\s*\S+|\s+")
LogprobRule = Callable[[str, str], float]


def tokenize(text: str) -> list[str]:
    """The fake's tokenizer: whitespace-led words, so " Paris" is one token."""
    return _TOKEN.findall(text)


def default_logprob(prefix: str, token: str) -> float:
    """A deterministic log-probability for ``token`` after ``prefix`` (longer is less likely)."""
    return -0.5 * len(token.strip()) - 0.3 * (len(prefix) % 5)


def logprobs_reply(
    prompt: str, generated: str, *, echo: bool, logprob: LogprobRule, shift: bool = False
) -> dict[str, Any]:
    """OpenAI's ``choices[0].logprobs`` for ``generated`` after ``prompt`` (echoed or not).

    ``shift`` reproduces llama-cpp-python 0.3.36 without BOS (abetlen/llama-cpp-python#1983):
    each echoed prompt token gets the value of the token after it, and the generated one
    is missing.
    """
    tokens = [*tokenize(prompt), generated] if echo else [generated]
    offsets, at = [], 0 if echo else len(prompt)
    for token in tokens:
        offsets.append(at)
        at += len(token)
    full = prompt + generated
    values: list[float | None] = [
        logprob(full[:o], t) for t, o in zip(tokens, offsets, strict=False)
    ]
    if echo and shift:
        # The bug pairs prompt token i with the distribution after it, and the generated
        # token, left without a row, is dropped.
        tokens, offsets, values = tokens[:-1], offsets[:-1], values[1:]
    if echo:
        values[0] = None
    return {
        "tokens": tokens,
        "token_logprobs": values,
        "text_offset": offsets,
        "top_logprobs": [
            None if v is None else {t: v} for t, v in zip(tokens, values, strict=False)
        ],
    }


class FakeEndpoint:
    """The server; a context manager that starts it on a free port and stops it."""

    def __init__(
        self,
        answer: Callable[[Body], str] = echo,
        *,
        delay: float = 0.0,
        faults: FaultRule | None = None,
        key: Callable[[Body], str] = prompt_key,
        record: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
        logprob: LogprobRule = default_logprob,
        echo_logprobs: str = "right",
    ) -> None:
        self.answer = answer
        self.logprob = logprob
        self.echo_logprobs = echo_logprobs
        self.delay = delay
        self.faults = faults
        self.key = key
        self.record = record
        self.model = model
        self.requests: list[tuple[str, Body, str | None]] = []
        self.headers: list[dict[str, str]] = []
        self.first_request_at: float | None = None
        self.peak_in_flight = 0
        self._in_flight = 0
        self._host = host
        self._port = port
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- inspection ---------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"http://{host}:{self._port}/v1"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def completions_url(self) -> str:
        return f"{self.base_url}/completions"

    def count(self, key: str) -> int:
        """POSTs received for one prompt key."""
        with self._lock:
            return self._counts[key]

    def counts(self) -> Counter[str]:
        """A copy of the per-key request counts."""
        with self._lock:
            return Counter(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    # -- the application ----------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (also usable on a caller's own loop)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=False)

    async def _complete(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            return await self._reply(request, chat=chat)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _reply(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        body = json.loads(await request.read())
        key = self.key(body)
        with self._lock:
            if self.first_request_at is None:
                self.first_request_at = time.time()
            self._counts[key] += 1
            nth = self._counts[key]
            if self.record:
                self.requests.append((request.path, body, request.headers.get("Authorization")))
                self.headers.append(dict(request.headers))
        fault = self.faults(key, nth, body) if self.faults else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault is not None:
            if fault.cut is not None:
                return await self._cut(request, fault.cut)
            if fault.hang_s is not None:
                await asyncio.sleep(fault.hang_s)
            else:
                return web.Response(
                    status=fault.status,
                    headers=fault.headers,
                    text=fault.body if fault.body is not None else '{"error": "injected"}',
                    content_type="application/json",
                )
        text = self.answer(body)
        logprobs = None
        if not chat and body.get("logprobs") is not None:
            text, logprobs = self._logprobs(body, text)
        usage = {
            "prompt_tokens": len(prompt_key(body).split()),
            "completion_tokens": len(text.split()),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
            if logprobs is not None:
                choice["logprobs"] = logprobs
        reply = {
            "id": f"fake-{nth}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [choice],
            "usage": usage,
        }
        return web.Response(body=json.dumps(reply).encode(), content_type="application/json")

    def _logprobs(self, body: Body, text: str) -> tuple[str, dict[str, Any] | None]:
        """(choice text, logprobs) for a completions request that asks for logprobs.

        One token is generated: the answer's first word, led by a space. ``echo_logprobs``
        says how echoed prompts are treated: "right", "shifted" (llama-cpp-python 0.3.36
        without BOS) or "none" (no echo, as llama.cpp's own server).
        """
        prompt = str(body.get("prompt", ""))
        words = text.split()
        generated = " " + (words[0] if words else "x")
        echo = bool(body.get("echo")) and self.echo_logprobs != "none"
        reply = logprobs_reply(
            prompt,
            generated,
            echo=echo,
            logprob=self.logprob,
            shift=self.echo_logprobs == "shifted",
        )
        return (prompt + generated if echo else generated), reply

    async def _cut(self, request: web.Request, how: str) -> web.StreamResponse:
        """Start a 200 reply and break the connection partway through its body."""
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Content-Length": "400"}
        )
        await response.prepare(request)
        await response.write(b'{"id": "cut", "choices": [{"index": 0, "message": {"ro')
        transport = request.transport
        if transport is not None:
            if how == "reset":
                transport.abort()
            else:
                transport.close()
        return response

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeEndpoint:
        """Serve in a background thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._bind())
            except BaseException as e:  # report a bind failure to start(), then stop
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._unbind())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-endpoint", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    async def _bind(self) -> None:
        # access_log=None: a log line per request would cost more than the request.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _unbind(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still hanging on a Fault(hang_s=...) outlive cleanup(): end them here,
        # or closing the loop reports them as destroyed while pending.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answer_from(spec: str) -> Callable[[Body], str]:
    if spec == "echo":
        return echo
    if spec.startswith("const:"):
        text = spec[len("const:") :]
        return lambda body: text
    raise SystemExit(f"--answer must be 'echo' or 'const:TEXT', not {spec!r}")


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, after printing 'listening on <base url>'."""
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible endpoint.")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve containers too")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--answer", default="echo", help="'echo' or 'const:TEXT'")
    args = parser.parse_args(argv)
    endpoint = FakeEndpoint(
        _answer_from(args.answer), delay=args.delay, host=args.host, port=args.port
    )
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with endpoint:
        print(f"listening on {endpoint.base_url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
