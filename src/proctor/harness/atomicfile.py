"""Atomic file replacement: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The temporary sibling that ``path`` is written to before the rename.

    Same directory, so os.replace stays a rename on one file system; the pid keeps
    two writers (a stale process and its resume) from sharing one temp file.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) through a temp file and os.replace.

    Args:
        path: The file to replace.
        text: Its new content.
        fsync: Flush to disk before the rename, for files that must survive a power cut.
    """
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
