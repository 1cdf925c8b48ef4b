"""`inv run --wait`: the wait notices run_all.sh's exit without waiting out a redraw period."""

from __future__ import annotations

import subprocess
import time

from proctor.launcher import executors
from proctor.launcher.jobs import invocations
from proctor.launcher.run import foreground
from tests.fakes.invocation import make_invocation, sample

REDRAW_S = 30.0  # far longer than the driver lives: returning early is the wake-up's doing


def test_the_wait_wakes_when_run_all_exits_not_at_the_next_redraw(tmp_path):
    folder = make_invocation(tmp_path, "aaaa1111", {"gsm8k": [sample("1", 1.0)]})
    (folder / "run_all.sh").write_text("sleep 0.5\n")
    inv = invocations.load(folder)
    executor = executors.Pool().get(inv.executor)
    driver = subprocess.Popen(["bash", str(folder / "run_all.sh")])
    try:
        time.sleep(0.2)
        assert executor.driving(inv)
        started = time.monotonic()
        foreground._sleep_while_driven(executor, inv, REDRAW_S)
        waited = time.monotonic() - started
        assert driver.poll() is not None or driver.wait(timeout=1) == 0
        assert not executor.driving(inv)
        assert waited < REDRAW_S / 3, f"slept {waited:.1f} s after run_all.sh ended"
    finally:
        driver.kill()
        driver.wait()


def test_an_executor_that_cannot_look_cheaply_sleeps_the_whole_period(tmp_path):
    folder = make_invocation(tmp_path, "bbbb2222", {"gsm8k": [sample("1", 1.0)]})
    inv = invocations.load(folder)
    asked = []

    class Slow(executors.executor_class("local")):  # type: ignore[misc]
        wake_s = 2.0

        def driving(self, invocation: invocations.Invocation) -> bool:
            asked.append(invocation.id)
            return False

    foreground._sleep_while_driven(Slow(), inv, 0.2)
    assert asked == []  # the redraw's own look answers; no second look per period


def test_a_driver_started_by_this_process_is_waited_for_not_looked_for(tmp_path, monkeypatch):
    """inv run --wait started run_all.sh itself: its exit is seen at once, with no pass over
    /proc while it runs; once its end is seen, the executor looks again (another driver,
    an inv resume, may have taken over)."""
    from proctor.launcher.executors.local import processes

    folder = make_invocation(tmp_path, "cccc3333", {"gsm8k": [sample("1", 1.0)]})
    (folder / "run_all.sh").write_text("sleep 0.5\n")
    inv = invocations.load(folder)
    executor = executors.Pool().get(inv.executor)
    executor.start(folder)
    looks = []
    real = processes.drivers
    monkeypatch.setattr(processes, "drivers", lambda *a: looks.append(a) or real(*a))
    started = time.monotonic()
    foreground._sleep_while_driven(executor, inv, REDRAW_S)
    waited = time.monotonic() - started
    assert looks == [] and waited < REDRAW_S / 3
    assert executor.wait_driver(inv, REDRAW_S) is False  # its end was seen: no second wait
    assert not executor.driving(inv) and len(looks) == 1
