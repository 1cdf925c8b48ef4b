"""A hostile OpenAI-compatible endpoint: each prompt names the attack it gets back.

The prompt (the jsonl question, or the last user message) is a behaviour name from
BEHAVIOURS, optionally followed by ``:anything`` to make sample ids distinct. Runs like
tests/fakes/endpoint.FakeEndpoint (a background thread, a free port on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import functools
import json
import zlib
from typing import Any

from aiohttp import web

from tests.fakes.endpoint import FakeEndpoint, prompt_key

MIB = 1024 * 1024
_ZEROS = b"\0" * MIB


@functools.cache
def gzip_bomb(inflated: int = 1024 * MIB) -> bytes:
    """A gzip stream of about 1 MB that inflates to ``inflated`` bytes of zeros."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [z.compress(_ZEROS) for _ in range(inflated // MIB)]
    out.append(z.flush())
    return b"".join(out)


def nested(depth: int = 2048) -> str:
    return "[" * depth + "]" * depth


def chat_reply(content: str) -> dict[str, Any]:
    return {
        "choices": [
            {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }


class HostileEndpoint(FakeEndpoint):
    """Answers each behaviour named in BEHAVIOURS; anything else gets a normal reply."""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * MIB)
        app.router.add_post("/v1/chat/completions", self._hostile)
        app.router.add_post("/v1/completions", self._hostile)
        app.router.add_post("/other/v1/chat/completions", self._ok)
        return app

    async def _ok(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.requests.append((request.path, body, request.headers.get("Authorization")))
        return web.json_response(chat_reply("ok"))

    async def _hostile(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.requests.append((request.path, body, request.headers.get("Authorization")))
        behaviour = prompt_key(body).split(":")[0]
        auth = request.headers.get("Authorization", "")
        headers = json.dumps(dict(request.headers))
        if behaviour == "echo401":
            return web.json_response({"error": {"message": f"bad key {auth}"}}, status=401)
        if behaviour == "echo403-padded":  # the key straddles the 200-character snippet cut
            pad = "x" * (200 - len("denied for ") - 10)
            return web.Response(status=403, text=f"denied for {pad}{auth}")
        if behaviour == "echo500":
            return web.Response(status=500, text=f"internal error; request headers: {headers}")
        if behaviour == "echo200-malformed":
            return web.Response(status=200, text=f"<html>proxy says hi {headers}</html>")
        if behaviour == "echo200-content":
            return web.json_response(chat_reply(f"I see you sent {auth}"))
        if behaviour == "echo200-reasoning":
            return web.json_response(chat_reply(f"<think>{headers}</think>fine"))
        if behaviour == "big":  # says so in Content-Length
            return await self._stream(request, 100 * MIB, declared=True)
        if behaviour == "big-chunked":  # does not
            return await self._stream(request, 100 * MIB, declared=False)
        if behaviour == "endless":
            return await self._stream(request, None, declared=False)
        if behaviour == "bomb":
            bomb = gzip_bomb()
            return web.Response(
                body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        if behaviour == "trickle":  # never ends, never fills the bound: the timeout ends it
            response = web.StreamResponse()
            await response.prepare(request)
            try:
                while True:
                    await response.write(b" ")
                    await asyncio.sleep(0.2)
            except ConnectionError:
                return response
        if behaviour == "nested-reply":
            return web.Response(status=200, text=nested(), content_type="application/json")
        if behaviour == "nested-error":
            return web.Response(status=500, text=nested(), content_type="application/json")
        if behaviour == "nested-content":
            return web.Response(
                status=200,
                text='{"choices": [{"message": {"content": ' + nested() + "}}]}",
                content_type="application/json",
            )
        if behaviour == "esc-error":
            return web.Response(status=400, text="\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202eevil")
        if behaviour == "esc-content":
            return web.json_response(chat_reply("\x1b[2Jcleared\x07"))
        if behaviour.startswith("redirect"):
            _, code, where = behaviour.split("-")
            location = (
                f"http://127.0.0.1:{self.port}/other/v1/chat/completions"
                if where == "same"
                else f"http://localhost:{self.port}/other/v1/chat/completions"
            )
            return web.Response(status=int(code), headers={"Location": location})
        return web.json_response(chat_reply("ok"))

    async def _stream(
        self, request: web.Request, size: int | None, *, declared: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if size is not None and declared:
            response.content_length = size
        await response.prepare(request)
        sent = 0
        try:
            while size is None or sent < size:
                await response.write(_ZEROS)
                sent += MIB
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response
