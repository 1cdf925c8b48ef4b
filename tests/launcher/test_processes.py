"""Script liveness from pid files, run_all.sh drivers, and signalling process groups."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from proctor.launcher.executors.local import processes


@pytest.fixture
def spawn(tmp_path):
    """Start `bash <path>` running ``body``; every process started is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(path, body="sleep 60", *args, new_session=True, by_hand=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body + "\n")
        proc = subprocess.Popen(
            ["bash", path.name if by_hand else str(path), *args],
            cwd=path.parent,
            start_new_session=new_session,
        )
        started.append(proc)
        time.sleep(0.1)  # let bash start
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("text", "ids"),
    [("12 34\n", (12, 34)), ("12\n", (12, 12)), ("", None), ("x y", None), ("-1 2", None)],
)
def test_read_pid_file(tmp_path, text, ids):
    (tmp_path / "script.pid").write_text(text)
    assert processes.read_pid_file(tmp_path / "script.pid") == ids
    assert processes.read_pid_file(tmp_path / "missing.pid") is None


def test_script_alive_only_while_the_run_sh_runs(tmp_path, spawn):
    proc = spawn(tmp_path / "job" / "run.sh")
    pid_file = tmp_path / "script.pid"
    pid_file.write_text(f"{proc.pid} {proc.pid}\n")
    assert processes.script_alive(pid_file) == processes.Process(proc.pid, proc.pid)
    # A live process that is not a run.sh (a reused pid) does not count.
    pid_file.write_text(f"{os.getpid()} {os.getpgrp()}\n")
    assert processes.script_alive(pid_file) is None
    pid_file.write_text(f"{proc.pid} {proc.pid}\n")
    proc.kill()
    time.sleep(0.1)  # now a zombie: not reaped yet, but not alive
    assert processes.script_alive(pid_file) is None


def test_drivers_of_an_invocation_with_their_tasks(tmp_path, spawn):
    folder = tmp_path / "inv"
    first = spawn(folder / "run_all.sh")
    resumed = spawn(folder / "run_all.sh", "sleep 60", "b", "c")
    by_hand = spawn(folder / "run_all.sh", "sleep 60", "d", by_hand=True)  # bash run_all.sh d
    spawn(tmp_path / "other" / "run_all.sh")  # another invocation's driver
    found = {p.pid: p.args for p in processes.drivers(folder)}
    assert found == {first.pid: (), resumed.pid: ("b", "c"), by_hand.pid: ("d",)}
    assert processes.queued("b", processes.drivers(folder))


def test_queued_means_some_live_driver_will_run_the_task():
    first, resumed = processes.Process(1, 1), processes.Process(2, 2, ("b",))
    assert processes.queued("a", [first, resumed])  # the first run runs every task
    assert processes.queued("b", [resumed]) and not processes.queued("a", [resumed])
    assert not processes.queued("a", [])


def test_signal_script_hits_its_group_but_never_ours(tmp_path, spawn):
    leader = spawn(tmp_path / "a" / "run.sh", "sleep 60 & wait")
    pid_file = tmp_path / "script.pid"
    pid_file.write_text(f"{leader.pid} {leader.pid}")
    process = processes.script_alive(pid_file)
    assert process is not None
    child = int(
        subprocess.run(["pgrep", "-P", str(leader.pid)], capture_output=True, text=True).stdout
    )
    assert processes.terminate([process], grace=5) == []
    assert leader.wait(timeout=5) != 0
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}") or processes._cmdline(child) is None

    # A script run by hand inside our own process group: only its pid is signalled.
    member = spawn(tmp_path / "b" / "run.sh", new_session=False)
    assert processes.signal_script(processes.Process(member.pid, os.getpgrp()), 15)
    assert member.wait(timeout=5) == -15  # and this test process is still here


def test_terminate_kills_what_ignores_sigterm(tmp_path, spawn):
    stubborn = spawn(tmp_path / "run.sh", "trap '' TERM; sleep 60 & wait; sleep 60")
    started = time.monotonic()
    left = processes.terminate([processes.Process(stubborn.pid, stubborn.pid)], grace=0.5)
    assert [p.pid for p in left] == [stubborn.pid]
    assert stubborn.wait(timeout=5) == -9
    assert time.monotonic() - started < 5


def test_signalling_a_process_that_is_gone_says_so(tmp_path, spawn):
    gone = spawn(tmp_path / "run.sh", "exit 0", new_session=False)
    gone.wait()
    assert processes.signal_script(processes.Process(gone.pid, os.getpgrp()), 15) is False
