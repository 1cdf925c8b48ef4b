"""Reading an endpoint's reply without trusting its size, its encoding or its redirects.

aiohttp's ``response.read()`` buffers whatever arrives and inflates gzip without a
limit: a 100 MB body, a 1 MB gzip that inflates to 1 GiB, or a body that never ends
took the harness to 2 GB and an OOM kill. So the session is opened with
``auto_decompress=False`` and ``read_limited`` streams the body, inflating gzip/deflate
itself with zlib's ``max_length``, and stops at ``limit`` bytes of *decoded* body. At
most ``limit`` plus one network chunk is held per request.

Redirects are not followed by aiohttp either (``allow_redirects=False``): a 301/302/303
would turn the POST into a GET, and another origin would receive the request.
``redirect_target`` accepts only a same-origin 307/308, which repeat the POST as it was.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
PIECE = 1024 * 1024  # most decoded bytes one zlib call may return
ACCEPT_ENCODING = "gzip, deflate"  # what read_limited can inflate under its bound


class BodyError(Exception):
    """The body was refused; the message is one line for the sample's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _decoder(encoding: str) -> zlib._Decompress | None:
    encodings = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return None
    if encodings in (["gzip"], ["x-gzip"]):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encodings == ["deflate"]:
        return zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # zlib header, as sent in practice
    raise BodyError("malformed", f"unsupported Content-Encoding {encoding[:40]!r}")


def _too_large(limit: int) -> BodyError:
    return BodyError(
        "too_large",
        f"response body over {limit} bytes (params.max_response_bytes); "
        "raise it if the endpoint really sends that much",
    )


async def read_limited(
    chunks: AsyncIterator[bytes], content_encoding: str, content_length: int | None, limit: int
) -> bytes:
    """The decoded body, at most ``limit`` bytes; BodyError beyond that or if undecodable.

    Args:
        chunks: The raw (still encoded) body, e.g. ``response.content.iter_chunked(CHUNK)``.
        content_encoding: The ``Content-Encoding`` header ("" if none).
        content_length: The ``Content-Length`` header, when given: refused early if over.
        limit: Bytes of decoded body allowed.
    """
    decoder = _decoder(content_encoding)
    if decoder is None and content_length is not None and content_length > limit:
        raise _too_large(limit)
    # Pieces of at most PIECE bytes, joined once at the end: growing one buffer to 16 MiB
    # (or inflating a chunk in one call) leaves big freed blocks that malloc keeps, and
    # the process grew to 600 MiB over a few dozen refused bodies that way.
    pieces: list[bytes] = []
    size = 0

    def add(piece: bytes) -> None:
        nonlocal size
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            pieces.clear()
            raise _too_large(limit)

    try:
        async for chunk in chunks:
            if decoder is None:
                add(chunk)
                continue
            data = chunk
            while data:
                # max_length bounds what one call may inflate to (never 0: "no limit").
                add(decoder.decompress(data, min(PIECE, limit + 1 - size)))
                data = decoder.unconsumed_tail
        if decoder is not None:
            add(decoder.flush())
    except zlib.error as e:
        raise BodyError("malformed", f"cannot inflate the body: {e}") from None
    return b"".join(pieces)


def redirect_target(url: str, status: int, location: str | None) -> str:
    """Where a 3xx may be followed (a same-origin 307/308); else BodyError naming it."""
    target = urljoin(url, location or "")
    if status in (307, 308) and location:
        here, there = urlsplit(url), urlsplit(target)
        if (here.scheme, here.hostname, here.port) == (there.scheme, there.hostname, there.port):
            return target
    shown = (location or "(no Location)")[:200]
    raise BodyError(
        f"http_{status}",
        f"redirect to {shown} not followed (only a same-origin 307/308 is): "
        "point target.api_endpoint.url at the final address",
    )
