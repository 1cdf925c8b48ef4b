"""Run untrusted programs (a model's code and the benchmark's tests) and say whether they pass.

Two ends of one small protocol over a Unix socket, one program per connection::

    client -> {"program": "...", "timeout_s": 10.0, "memory_mb": 1024}\\n
    server -> {"event": "started"}\\n                   (a slot was free; the clock starts)
    server -> {"status": "passed" | "failed" | "timeout", "detail": "...", "duration_s": 0.1}\\n

The server (``python -m proctor.harness.sandbox serve``) runs each program in a fresh
``python -I -S`` child: stdlib only, its own temporary folder, rlimits on address space,
CPU time, file size, open files and (with dedicated uids) processes, output to /dev/null,
and a wall-clock timeout after which its processes are killed. The child reports its own
outcome on a private pipe with a per-job nonce; no report means failed.

Where it runs decides what it isolates (docs/architecture.md, "Code execution"):

- In the sandbox container run.sh starts beside a task (no network, read-only root, no
  mounts but the socket's folder, pids/memory/CPU limits), the server runs as root with
  only CAP_SETUID/SETGID and gives each concurrent job its own uid (``--uid-base``): a job
  cannot signal the server or another job, read the socket's folder, or exhaust another
  job's process limit, and everything left of a job is killed by uid afterwards.
- ``--sandbox local`` (tests, development) runs the same server as a subprocess of the
  harness, as the same user, with only the rlimits and the timeout: weaker isolation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import secrets
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

Status = Literal["passed", "failed", "timeout"]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024
MAX_TIMEOUT_S = 120.0
MAX_REQUEST_BYTES = 16 * 1024 * 1024
FILE_SIZE_LIMIT = 16 * 1024 * 1024
PROCESS_LIMIT = 32  # per job, with dedicated uids only (RLIMIT_NPROC counts per uid)
VERDICT_GRACE_S = 10.0  # the client's wait beyond the job's own timeout
QUEUE_WAIT_S = 900.0  # how long a job may wait for a free slot
DETAIL_CHARS = 300

# The child: stdlib only (it runs with -I -S). Limits first, then the program, whose outcome
# goes to a duplicate of stdout made before stdout is pointed at /dev/null.
CHILD = r"""
import json, os, resource, sys, tempfile, glob, shutil
job = json.loads(sys.stdin.buffer.read())
report = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
def limit(what, value):
    resource.setrlimit(what, (value, value))
limit(resource.RLIMIT_AS, job["memory_mb"] * 1024 * 1024)
resource.setrlimit(resource.RLIMIT_CPU, (int(job["timeout_s"]) + 1, int(job["timeout_s"]) + 2))
limit(resource.RLIMIT_FSIZE, job["fsize"])
limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_NOFILE, 256)
if job["nproc"]:
    limit(resource.RLIMIT_NPROC, job["nproc"])
    for old in glob.glob(f"{tempfile.gettempdir()}/job-{os.getuid()}-*"):
        shutil.rmtree(old, ignore_errors=True)
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass
work = tempfile.mkdtemp(prefix=f"job-{os.getuid()}-")
os.chdir(work)
status, detail = "passed", ""
try:
    exec(compile(job["program"], "<program>", "exec"), {"__name__": "__main__"})
except BaseException as e:
    status, detail = "failed", f"{type(e).__name__}: {e}"
os.chdir("/")
shutil.rmtree(work, ignore_errors=True)
report.write(json.dumps({"nonce": job["nonce"], "status": status, "detail": detail[:300]}) + "\n")
report.flush()
os._exit(0)
"""

# Kills every process of one uid: kill(-1) as that uid, which the kernel does atomically
# with respect to fork, so a fork bomb cannot outrun it.
REAPER = r"""
import os, signal, sys
uid = int(sys.argv[1])
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
try:
    os.kill(-1, signal.SIGKILL)
except ProcessLookupError:
    pass
"""


class SandboxError(Exception):
    """No verdict: the sandbox is unreachable, refused the job or died. Not a failed test."""


@dataclass(frozen=True)
class Verdict:
    """What running one program came to."""

    status: Status
    detail: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Sandbox(Protocol):
    """Runs one program to a verdict; thread-safe."""

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Return once programs can be run; SandboxError after ``timeout_s``."""
        ...

    def run(self, program: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
        """Run ``program``; SandboxError when no verdict could be had."""
        ...


# ---- client -------------------------------------------------------------------------------


class SocketSandbox:
    """The harness's side: one connection per program to a server's socket."""

    def __init__(self, path: Path, memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.path = Path(path)
        self.memory_mb = memory_mb

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the server accepts connections (its container may still be starting)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(self.path))
                return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"no sandbox at {self.path} after {timeout_s:.0f}s: {e}"
                    ) from None
                time.sleep(0.1)

    def run(self, program: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
        request = {"program": program, "timeout_s": timeout_s, "memory_mb": self.memory_mb}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10.0)
                s.connect(str(self.path))
                s.sendall(json.dumps(request).encode() + b"\n")
                reader = s.makefile("rb")
                s.settimeout(QUEUE_WAIT_S)
                started = json.loads(reader.readline() or b"null")
                if started != {"event": "started"}:
                    raise SandboxError(f"sandbox refused the job: {started}")
                s.settimeout(timeout_s + VERDICT_GRACE_S)
                line = reader.readline()
        except (OSError, ValueError) as e:
            raise SandboxError(f"sandbox at {self.path}: {type(e).__name__}: {e}") from None
        try:
            verdict = json.loads(line)
            return Verdict(verdict["status"], verdict["detail"], verdict["duration_s"])
        except (ValueError, KeyError, TypeError):
            raise SandboxError(f"sandbox gave no verdict (got {line[:200]!r})") from None


class LocalSandbox(SocketSandbox):
    """The same server as a subprocess of this one, as this user: rlimits and timeouts only.

    For tests and development without Docker. Use as a context manager.
    """

    def __init__(self, slots: int | None = None, memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="proctor-sandbox-")
        super().__init__(Path(self._dir.name) / "sandbox.sock", memory_mb)
        command = [sys.executable, "-m", "proctor.harness.sandbox", "serve"]
        command += ["--socket", str(self.path), "--slots", str(slots or default_slots())]
        self._server = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        try:
            self.wait_ready(30.0)
        except SandboxError:
            self.close()
            raise

    def close(self) -> None:
        self._server.terminate()
        try:
            self._server.wait(10)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        self._dir.cleanup()

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def default_slots() -> int:
    return max(1, min(8, os.cpu_count() or 1))


# ---- server -------------------------------------------------------------------------------


class Executor:
    """Runs programs in child processes, at most one per slot at a time.

    Args:
        slots: How many programs may run at once.
        uid_base: Give slot i the uid and gid ``uid_base + i`` (needs CAP_SETUID/SETGID);
            None runs children as this process's user (local mode).
    """

    def __init__(self, slots: int, uid_base: int | None = None) -> None:
        self.uid_base = uid_base
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(slots):
            self._free.put(slot)

    def acquire(self, timeout_s: float = QUEUE_WAIT_S) -> int:
        return self._free.get(timeout=timeout_s)

    def release(self, slot: int) -> None:
        self._free.put(slot)

    def execute(self, slot: int, program: str, timeout_s: float, memory_mb: int) -> dict[str, Any]:
        """Run ``program`` in ``slot``; return the verdict as the protocol sends it."""
        uid = None if self.uid_base is None else self.uid_base + slot
        nonce = secrets.token_hex(16)
        job = {
            "program": program,
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "fsize": FILE_SIZE_LIMIT,
            "nproc": PROCESS_LIMIT if uid is not None else 0,
            "nonce": nonce,
        }
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            start_new_session=True,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
        )
        line: bytes | None = None
        try:
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(json.dumps(job).encode())
                child.stdin.close()
            except BrokenPipeError:
                pass
            line = _read_line(child.stdout, started + timeout_s)
        finally:
            self._kill(child, uid, reported=bool(line))
        duration = round(time.monotonic() - started, 3)
        try:
            report = json.loads(line) if line else None
        except ValueError:
            report = None
        if isinstance(report, dict) and report.get("nonce") == nonce:
            status, detail = str(report.get("status")), str(report.get("detail"))[:DETAIL_CHARS]
        elif line is None:
            status, detail = "timeout", f"timed out after {timeout_s:g}s"
        else:
            code = child.returncode
            how = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
            status, detail = "failed", f"no report from the program ({how})"
        return {"status": status, "detail": detail, "duration_s": duration}

    def _kill(self, child: subprocess.Popen[bytes], uid: int | None, reported: bool) -> None:
        """End the child and everything it started: by process group, or by uid.

        Without CAP_KILL the server cannot signal a child that runs as another uid, so
        with dedicated uids a reaper running as that uid kills every process it has.
        """
        if uid is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(0.5 if reported else 0)  # a reporting child exits at once
            for _ in range(5):
                if not _processes_of(uid):
                    break
                subprocess.run(
                    [sys.executable, "-I", "-S", "-c", REAPER, str(uid)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                    check=False,
                )
        child.wait()
        if child.stdout:
            child.stdout.close()


def _read_line(stream: Any, deadline: float) -> bytes | None:
    """The child's report line, b"" if it ended without one, None on timeout."""
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while b"\n" not in buf and len(buf) < 65536:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not sel.select(remaining):
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return buf.split(b"\n")[0]
            buf += chunk
    return buf.split(b"\n")[0]


def _processes_of(uid: int) -> list[int]:
    """Pids whose real uid is ``uid`` (from /proc/<pid>/status, which hiding cannot change)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return pids


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        executor = self.server.executor
        raw = self.rfile.readline(MAX_REQUEST_BYTES)
        if not raw:
            return  # a readiness probe
        try:
            request = json.loads(raw)
            program = str(request["program"])
            timeout_s = min(float(request.get("timeout_s", DEFAULT_TIMEOUT_S)), MAX_TIMEOUT_S)
            memory_mb = int(request.get("memory_mb", DEFAULT_MEMORY_MB))
        except (ValueError, KeyError, TypeError) as e:
            with contextlib.suppress(OSError):
                self._send({"event": "refused", "detail": f"bad request: {e}"})
            return
        slot = executor.acquire()
        try:
            self._send({"event": "started"})
            self._send(executor.execute(slot, program, timeout_s, memory_mb))
        except OSError:
            pass  # the client went away
        finally:
            executor.release(slot)

    def _send(self, message: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(message).encode() + b"\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024  # connections wait here for a handler; a full queue is EAGAIN
    executor: Executor


def serve(
    path: Path,
    slots: int,
    uid_base: int | None = None,
    owner: tuple[int, int] | None = None,
    exit_on_eof: bool = False,
) -> None:
    """Serve on the socket ``path`` until SIGTERM or SIGINT (or the end of stdin).

    Args:
        path: Where to create the socket (an old one there is replaced).
        slots: Programs run at once.
        uid_base: Dedicated uids per slot (see Executor); needs CAP_SETUID/SETGID.
        owner: (uid, gid) to create the socket as, so that a client running as that user
            (and nobody else) can use it; needs CAP_SETUID/SETGID.
        exit_on_eof: Also stop when stdin ends: run.sh feeds it a pipe that lives as long
            as the script, so the sandbox goes when the script goes, even by SIGKILL.
    """
    if owner is not None:  # create the socket as its client's user, then take root back
        os.setegid(owner[1])
        os.seteuid(owner[0])
    try:
        path.unlink(missing_ok=True)
        server = _Server(str(path), _Handler)
        os.chmod(path, 0o600)
    finally:
        if owner is not None:
            os.seteuid(0)
            os.setegid(0)
    server.executor = Executor(slots, uid_base)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if exit_on_eof:

        def watch_stdin() -> None:
            while sys.stdin.buffer.read(65536):
                pass
            server.shutdown()

        threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"proctor sandbox: serving on {path} with {slots} slots", flush=True)
    with server:
        server.serve_forever(poll_interval=0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proctor.harness.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run programs sent to a Unix socket")
    run.add_argument("--socket", type=Path, required=True, help="the socket to create")
    run.add_argument("--slots", type=int, default=default_slots(), help="programs run at once")
    run.add_argument("--uid-base", type=int, help="slot i runs as uid/gid UID_BASE+i (root only)")
    run.add_argument("--owner", help="UID:GID to create the socket as (root only)")
    run.add_argument("--exit-on-eof", action="store_true", help="stop when stdin ends")
    args = parser.parse_args(argv)
    owner = tuple(int(x) for x in args.owner.split(":")) if args.owner else None
    serve(args.socket, args.slots, args.uid_base, owner, args.exit_on_eof)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
