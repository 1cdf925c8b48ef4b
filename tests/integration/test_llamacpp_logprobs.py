"""The llama.cpp image's echoed prompt logprobs (patched at build) pass proctor's check."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request

import pytest

from proctor.harness.client import Client
from proctor.harness.loglikelihood import check_endpoint
from proctor.harness.taskfile import Endpoint, Params
from proctor.launcher.images import SERVER_LATEST
from tests.integration.helpers import free_port, wait_for

pytestmark = pytest.mark.docker

LLAMA_PY = "/opt/llama/lib/python3.11/site-packages/llama_cpp/llama.py"


@pytest.fixture(scope="module")
def server():
    port = free_port()
    cid = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000", SERVER_LATEST],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    url = f"http://127.0.0.1:{port}/v1"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/models", timeout=5).status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=180, interval=1)
        yield url
    finally:
        subprocess.run(["docker", "stop", cid], capture_output=True, timeout=60)


def _complete(url: str, **body) -> dict:
    request = urllib.request.Request(
        f"{url}/completions",
        json.dumps({"temperature": 0, "max_tokens": 1, "logprobs": 1, **body}).encode(),
        {"Content-Type": "application/json"},
    )
    return json.load(urllib.request.urlopen(request, timeout=300))["choices"][0]


def test_the_image_carries_the_patch() -> None:
    found = subprocess.run(
        ["docker", "run", "--rm", SERVER_LATEST, "grep", "-c", "proctor patch", LLAMA_PY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.stdout.strip() == "2", found


def test_echoed_logprobs_equal_generated_ones(server) -> None:
    generated = _complete(server, prompt="The capital of France is")
    assert generated["text"] == " Paris"
    expected = generated["logprobs"]["token_logprobs"][0]
    echoed = _complete(server, prompt="The capital of France is Paris", echo=True)["logprobs"]
    tokens = echoed["tokens"]
    at = tokens.index(" Paris")
    assert echoed["text_offset"][at] == len("The capital of France is")
    assert abs(echoed["token_logprobs"][at] - expected) < 1e-3
    # " of" after "The capital" is likely; unpatched it read -10.5 (the next token's value).
    assert echoed["token_logprobs"][tokens.index(" of")] > -2.0
    assert echoed["token_logprobs"][0] is None


def test_proctor_check_passes(server) -> None:
    async def check() -> str:
        endpoint = Endpoint(url=server, model_id="smollm2-135m-instruct", type="completions")
        async with Client(endpoint, Params(request_timeout=300), max_tokens=1, api_key=None) as c:
            return await check_endpoint(c, seed=1234)

    assert asyncio.run(check()).startswith("log-likelihood check passed: ' Paris'")
