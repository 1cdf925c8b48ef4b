"""The live view as a person sees it: `inv run --wait` and `inv status --watch` on a real
pseudo-terminal (a tmux pane, read back with capture-pane, i.e. after the terminal has
applied every escape code), and as plain lines when stdout is a pipe.

The harness image runs the jsonl benchmark against a slow fake endpoint in this process,
so the run lasts long enough to be watched.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import ROOT, run_inv
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import (
    invocation_dir,
    wait_for_drivers,
    write_config,
    write_questions,
)

pytestmark = pytest.mark.docker

SAMPLES = 40
BAR = "\u2501"  # rich's bar glyph


def config(tmp_path: Path, url: str) -> Path:
    data = write_questions(tmp_path / "data", SAMPLES)
    return write_config(
        tmp_path,
        [{"name": "jsonl", "dataset_dir": str(data)}],
        target={"api_endpoint": {"url": url, "model_id": "fake-model"}},
        evaluation={"params": {"parallelism": 2, "max_retries": 0}},
        execution={"image": HARNESS_LATEST},
    )


class Pane:
    """A command in a detached tmux session of its own server, 120 x 40."""

    def __init__(self, command: str, cwd: Path) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (.ci/run installs it)")
        self.socket = f"proctor-test-{secrets.token_hex(4)}"
        # the pane stays after the command so its last screen can be read
        script = f"cd {shlex.quote(str(cwd))} && {command}; echo EXIT=$?; sleep 600"
        self._tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def inv_command(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "invoke", "-r", str(ROOT), *args])


def watch_screens(pane: Pane, timeout: float = 240) -> list[str]:
    """Every distinct screen until the command has printed EXIT=."""
    screens: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = pane.screen()
        if not screens or now != screens[-1]:
            screens.append(now)
        if "EXIT=" in now:
            return screens
        time.sleep(0.2)
    raise AssertionError("the command did not end:\n" + screens[-1])


def done_counts(screen: str, job: str) -> list[int]:
    """The done counts on the lines of ``job``'s bar."""
    return [
        int(m.group(1))
        for line in screen.splitlines()
        if line.startswith(job) and BAR in line
        for m in [re.search(rf"(\d+)/{SAMPLES}\b", line)]
        if m
    ]


def assert_watched_live(screens: list[str], inv_id: str) -> None:
    job = f"{inv_id}.0"
    live = [s for s in screens if done_counts(s, job)]
    assert live, "no screen showed the job's bar:\n" + "\n---\n".join(screens[-3:])
    for screen in live:
        # redrawn in place: one bar per job and one for the invocation on every screen
        assert len(done_counts(screen, job)) == 1, screen
        whole = [
            x for x in screen.splitlines() if x.startswith(f"invocation {inv_id}") and BAR in x
        ]
        assert len(whole) == 1, screen
    running = [s for s in live if 0 < done_counts(s, job)[0] < SAMPLES]
    assert running, "no screen caught the job half done"
    line = next(x for x in running[-1].splitlines() if x.startswith(job) and BAR in x)
    assert "jsonl" in line and "RUNNING" in line and "/s" in line and "ETA" in line, line
    seen = sorted({done_counts(s, job)[0] for s in live})
    assert len(seen) >= 3, f"the bar did not move: {seen}"
    last = screens[-1]
    assert "EXIT=0" in last
    assert BAR not in last, "the bars were not taken away at the end:\n" + last
    assert "SUCCEEDED" in last and "\x1b" not in last


def test_run_wait_shows_live_bars_on_a_terminal_then_the_report(tmp_path):
    with FakeEndpoint(delay=0.5) as ep:
        cfg = config(tmp_path, ep.chat_url)
        pane = Pane(inv_command("run", "--config", str(cfg), "--wait"), tmp_path)
        try:
            screens = watch_screens(pane)
        finally:
            pane.close()
    inv_id = invocation_dir(tmp_path).name.rsplit("-", 1)[1]
    assert_watched_live(screens, inv_id)
    assert "95% CI" in screens[-1]  # the report table, after the bars
    assert re.search(r"^jsonl\s+accuracy\s+1\.000", screens[-1], re.M), screens[-1]


def test_status_watch_shows_the_same_bars_and_ends_with_the_table(tmp_path):
    with FakeEndpoint(delay=0.5) as ep:
        started = run_inv("run", "--config", str(config(tmp_path, ep.chat_url)), cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        folder = invocation_dir(tmp_path)
        inv_id = folder.name.rsplit("-", 1)[1]
        pane = Pane(inv_command("status", inv_id, "--watch"), tmp_path)
        try:
            screens = watch_screens(pane)
        finally:
            pane.close()
        wait_for_drivers(folder)
    assert_watched_live(screens, inv_id)
    assert "exit / reason" in screens[-1]  # the status table's header, printed at the end


def test_run_wait_into_a_pipe_prints_plain_lines(tmp_path):
    with FakeEndpoint(delay=0.5) as ep:
        result = run_inv(
            "run", "--config", str(config(tmp_path, ep.chat_url)), "--wait", cwd=tmp_path
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout and BAR not in result.stdout
    live = [line for line in result.stdout.splitlines() if re.match(r"\d\d:\d\d:\d\d  ", line)]
    assert live, result.stdout
    assert len(live) == len(set(live)), "a line repeated although nothing changed"
    assert any(line.endswith("1 RUNNING") or "1 RUNNING;" in line for line in live), live
