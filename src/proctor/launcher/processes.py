"""The host processes of an invocation: run_all.sh drivers and run.sh scripts.

With containers.py this is what is specific to running locally: whether a script is
alive (from the "<pid> <pgid>" pid files the scripts write), which drivers are running
an invocation, and signalling their process groups. Linux's /proc is read when present;
elsewhere liveness falls back to ``kill(pid, 0)``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
RUN_ALL = "run_all.sh"
RUN_SH = "run.sh"


@dataclass(frozen=True)
class Process:
    """A script found alive: its pid, process group and (for drivers) the tasks it was given."""

    pid: int
    pgid: int
    args: tuple[str, ...] = ()


def read_pid_file(path: Path) -> tuple[int, int] | None:
    """``(pid, pgid)`` from a "<pid> <pgid>" file; None when missing, empty or torn."""
    try:
        fields = path.read_text(encoding="utf-8", errors="replace").split()
        pid = int(fields[0])
        pgid = int(fields[1]) if len(fields) > 1 else pid
    except (OSError, ValueError, IndexError):
        return None
    return (pid, pgid) if pid > 0 and pgid > 0 else None


def _cmdline(pid: int) -> list[str] | None:
    """The argv of a live, non-zombie process; [] when unknowable (no /proc); None if dead."""
    if not PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return []
        return []
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
        # The state follows the parenthesised command name, which may hold spaces.
        if stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"Z":
            return None
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def script_alive(pid_file: Path, script: str = RUN_SH) -> Process | None:
    """The script a pid file names, if it is still running (a reused pid does not count)."""
    ids = read_pid_file(pid_file)
    if ids is None:
        return None
    argv = _cmdline(ids[0])
    if argv is None or (argv and not any(arg.endswith(script) for arg in argv[:3])):
        return None
    return Process(ids[0], ids[1])


def drivers(folder: Path) -> list[Process]:
    """Every live ``bash <folder>/run_all.sh [TASK...]`` (the first run and any resumes)."""
    target = str((folder / RUN_ALL).resolve())
    found: dict[int, Process] = {}
    if PROC.is_dir():
        for entry in os.scandir(PROC):
            if not entry.name.isdigit():
                continue
            argv = _cmdline(int(entry.name))
            if argv and len(argv) >= 2 and argv[1] == target and "bash" in argv[0]:
                pid = int(entry.name)
                with contextlib.suppress(ProcessLookupError):
                    found[pid] = Process(pid, os.getpgid(pid), tuple(argv[2:]))
    # Where /proc is missing, the pid file names the newest driver.
    newest = script_alive(folder / "run_all.pid", RUN_ALL)
    if newest and newest.pid not in found and not PROC.is_dir():
        found[newest.pid] = newest
    return list(found.values())


def signal_script(process: Process, sig: int) -> bool:
    """Send ``sig`` to a script's process group (or the script alone if it leads none).

    A script started by hand from another program shares that program's group, which must
    not be hit; nor is the caller's own group. Returns False when it was already gone.
    """
    own = os.getpgrp()
    try:
        if process.pgid == process.pid and process.pgid != own:
            os.killpg(process.pgid, sig)
        else:
            os.kill(process.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(processes: list[Process], timeout: float, interval: float = 0.1) -> list[Process]:
    """Wait until the processes have exited; return those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = list(processes)
    while left:
        left = [p for p in left if _cmdline(p.pid) is not None]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return left


def terminate(processes: list[Process], grace: float) -> list[Process]:
    """SIGTERM each group, wait up to ``grace`` seconds, then SIGKILL what is left.

    Returns the processes that needed SIGKILL.
    """
    for process in processes:
        signal_script(process, signal.SIGTERM)
    stubborn = wait_gone(processes, grace)
    for process in stubborn:
        signal_script(process, signal.SIGKILL)
    wait_gone(stubborn, 5)
    return stubborn
