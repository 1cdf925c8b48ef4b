"""The host processes of an invocation: run_all.sh drivers and run.sh scripts.

With containers.py this is what is specific to running locally: whether a script is
alive (from the "<pid> <pgid>" pid files the scripts write), which drivers are running
an invocation, and signalling their process groups. Linux's /proc is read when present;
elsewhere liveness falls back to ``kill(pid, 0)``.
"""

from __future__ import annotations

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


def all_drivers() -> dict[str, list[Process]]:
    """Every live ``bash <folder>/run_all.sh [TASK...]`` on this host, by resolved folder.

    One pass over /proc. Empty where /proc is missing (see ``drivers``).
    """
    found: dict[str, list[Process]] = {}
    if not PROC.is_dir():
        return found
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        argv = _cmdline(pid)
        if not argv or len(argv) < 2 or "bash" not in argv[0] or not argv[1].endswith(RUN_ALL):
            continue
        try:
            process = Process(pid, os.getpgid(pid), tuple(argv[2:]))
        except ProcessLookupError:
            continue
        script = Path(argv[1])
        if not script.is_absolute():  # started by hand from its folder: bash run_all.sh
            try:
                script = Path(os.readlink(PROC / entry.name / "cwd")) / script
            except OSError:
                continue
        found.setdefault(str(script.parent.resolve()), []).append(process)
    return found


def drivers(folder: Path, live: dict[str, list[Process]] | None = None) -> list[Process]:
    """The live run_all.sh processes of one invocation (the first run and any resumes).

    Args:
        folder: The invocation folder.
        live: ``all_drivers()`` when the caller already has it.
    """
    if not PROC.is_dir():  # then the pid file names the newest driver
        newest = script_alive(folder / "run_all.pid", RUN_ALL)
        return [newest] if newest else []
    live = all_drivers() if live is None else live
    return live.get(str(folder.resolve()), [])


def queued(job_task: str, live: list[Process]) -> bool:
    """Whether one of an invocation's live drivers will still run (or runs) this task."""
    return any(not d.args or job_task in d.args for d in live)


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
