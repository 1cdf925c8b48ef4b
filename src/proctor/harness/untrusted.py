"""Text that came from outside (an endpoint, a data file, a file on disk) made safe to keep.

An endpoint may be hostile or broken: it can echo the request's ``Authorization`` header
back in an error body or in the model's reply, send ESC sequences that rewrite a
terminal, or nest JSON deeply enough to exhaust Python's recursion limit. Everything the
harness stores or prints passes through here first (docs/architecture.md, "Threat model"):

- ``Scrubber`` replaces every credential the harness holds by ``[redacted]``;
- ``printable`` escapes control and bidi characters so that printing cannot steer a
  terminal;
- ``loads`` parses JSON strictly (no NaN/Infinity) and turns a recursion overflow into
  the ValueError every caller already handles;
- ``cut`` bounds a text kept in the journal and says that it was cut.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"
# Values shorter than this are not scrubbed: replacing "1" or "on" everywhere would
# mangle every text, and no credential is that short.
MIN_SECRET_LEN = 6
# The variable through which run.sh names (never passes the values of) the task's
# env_vars, so that the harness scrubs them too.
SECRET_NAMES_VAR = "PROCTOR_SECRET_NAMES"


class Scrubber:
    """Replaces each credential (and its JSON- and URL-escaped forms) by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LEN:
                continue
            forms |= {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
        # Longest first: a key that contains another key is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)


def secrets_from_env(
    api_key: str | None, environ: Mapping[str, str] = os.environ
) -> list[str | None]:
    """The API key plus the values of the variables run.sh named in PROCTOR_SECRET_NAMES."""
    names = [n for n in environ.get(SECRET_NAMES_VAR, "").split(",") if n]
    return [api_key, *(environ.get(name) for name in names)]


# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidi embeddings/overrides/isolates, zero-width joiners, line/paragraph separators).
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_CONTROLS_AND_LINES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, lines: bool = True) -> str:
    """``text`` with control characters written as ``\\x1b``-style escapes.

    ``lines=True`` keeps newlines and tabs (a log); ``lines=False`` escapes them too (one
    line of a status or an error).
    """
    pattern = _CONTROLS if lines else _CONTROLS_AND_LINES
    return pattern.sub(_escape, text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: str | bytes, *, allow_nan: bool = False) -> Any:
    """``json.loads`` that raises ValueError for any bad input, deep nesting included.

    ``NaN``/``Infinity`` are refused unless ``allow_nan``: Python writes and reads them,
    but they are not JSON, and a non-finite score or latency poisons every sum.
    """
    try:
        if allow_nan:
            return json.loads(raw)
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def finite(value: Any) -> bool:
    """A real number (not a bool) that is finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def cut(text: str | None, limit: int) -> str | None:
    """``text`` bounded to ``limit`` characters, marked as cut when it was longer."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n[proctor: cut here, {len(text) - limit} more characters not kept]"
