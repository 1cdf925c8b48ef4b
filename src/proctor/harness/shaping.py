"""Request shaping: what a config adds to every request beyond the prompt and its params.

The part of NeMo Evaluator's interceptors that users reach for: ``params.extra_body`` is
deep-merged into every request body (``chat_template_kwargs: {enable_thinking: false}``,
``reasoning_effort``, ``top_k``, ...), and ``endpoint.headers`` maps extra request headers
to the NAMES of the variables holding their values. Values are read from the environment
when the task starts, exactly like the API key (proctor.harness.client.api_key): they are
never in task.yaml, a log or a journal line.

An endpoint that does not know an extra_body field answers 400 (OpenAI: "Unrecognized
request argument supplied: top_k") or 422 (FastAPI servers: "Extra inputs are not
permitted", loc body.top_k). :func:`rejected_field` recognises such a reply by the field's
name in it, so the runner fails the task once instead of recording the same error for
every sample.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from proctor.harness.errors import InputError

# Body keys proctor writes itself, and where to set them instead.
RESERVED_BODY_KEYS: Mapping[str, str] = {
    "model": "target.api_endpoint.model_id",
    "messages": "the benchmark",
    "prompt": "the benchmark",
    "temperature": "params.temperature",
    "top_p": "params.top_p",
    "max_tokens": "params.max_tokens",
    "seed": "params.seed",
    "stop": "params.stop",
    "n": "params.n_repeats",
    "stream": "nothing: proctor reads whole responses",
}
# Headers proctor or HTTP itself sets; the API key travels as Authorization (api_key_name).
RESERVED_HEADERS = frozenset({"authorization", "content-type", "content-length", "host"})
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Statuses with which servers refuse a request body they do not understand.
_REJECTING_STATUSES = ("http_400", "http_422")


def check_extra_body(body: dict[str, Any]) -> dict[str, Any]:
    """``params.extra_body`` as given; ValueError names a key proctor sets itself."""
    for key in body:
        if key in RESERVED_BODY_KEYS:
            raise ValueError(
                f"{key!r} is set by proctor; use {RESERVED_BODY_KEYS[key]} instead of extra_body"
            )
    return body


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """``endpoint.headers`` (header name -> variable NAME); ValueError says what is wrong."""
    for header, variable in headers.items():
        if not _HEADER_NAME.match(header):
            raise ValueError(f"{header!r} is not a valid HTTP header name")
        if header.lower() in RESERVED_HEADERS:
            hint = " (the key comes from api_key_name)" if header.lower() == "authorization" else ""
            raise ValueError(f"header {header!r} is set by proctor{hint}")
        if not isinstance(variable, str) or not _ENV_NAME.match(variable):
            raise ValueError(
                f"headers.{header} must be the NAME of an environment variable "
                f"(got {variable!r}); put the value in .env or the environment, never in the config"
            )
    return headers


def request_headers(
    headers: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The extra headers with their values, read from the variables they name.

    Raises:
        InputError: A named variable is empty or unset (it names the variable, not a value).
    """
    out = {}
    for header, variable in headers.items():
        value = environ.get(variable, "").strip()
        if not value:
            raise InputError(
                f"environment variable {variable} (endpoint.headers.{header}) is empty or not "
                "set; export it or add it to the .env file"
            )
        out[header] = value
    return out


def merge(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra`` merged in deeply: dicts are merged, anything else replaced."""
    if not extra:
        return body
    out = dict(body)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _field_paths(extra: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every key in ``extra``, deepest first."""
    for key, value in extra.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _field_paths(value, f"{path}.")
        yield path, str(key)


def rejected_field(failure: Any, extra: Mapping[str, Any]) -> str | None:
    """The extra_body field (dotted path) that a failed request's error names, if any.

    Only a 400 or 422 counts, and only when its message names one of ``extra``'s keys as a
    whole word: an unrelated bad request stays an error of its sample.
    """
    if not extra or failure is None or getattr(failure, "code", None) not in _REJECTING_STATUSES:
        return None
    message = str(getattr(failure, "message", ""))
    for path, key in _field_paths(extra):
        if re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", message):
            return path
    return None
