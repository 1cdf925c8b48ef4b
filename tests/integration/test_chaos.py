"""Crash chaos: a 1,000-sample task is killed again and again (its container, its script,
the Docker daemon itself), each time followed by `inv resume`. In the end the journal holds
exactly one untorn line per (sample, repeat), the metrics equal an uninterrupted run's
against the same deterministic server, and no journaled sample was ever requested again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from proctor.harness.runner import run_task
from proctor.harness.taskfile import TaskSpec
from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import run_inv
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.integration.helpers import (
    by_sample_and_repeat,
    invocation_dir,
    proctor_containers,
    wait_for,
    write_config,
    write_questions,
)

pytestmark = pytest.mark.docker

N = 1000


def answer(body) -> str:
    """Right for two questions in three, so the metrics are not trivially 0 or 1."""
    question = prompt_key(body)
    return "wrong" if int(question.split()[-1]) % 3 == 0 else question


class Chaos:
    """One invocation of one jsonl task, and what the server saw of it."""

    def __init__(self, workdir: Path, endpoint: FakeEndpoint) -> None:
        self.workdir, self.endpoint = workdir, endpoint
        data = write_questions(workdir / "data", N)
        config = write_config(
            workdir,
            [{"name": "jsonl", "dataset_dir": str(data)}],
            target={"api_endpoint": {"url": endpoint.chat_url, "model_id": "fake-model"}},
            evaluation={"params": {"parallelism": 8, "max_retries": 0}},
            execution={"image": HARNESS_LATEST},
        )
        started = run_inv("run", "--config", str(config), cwd=workdir)
        assert started.returncode == 0, started.stderr
        self.folder = invocation_dir(workdir)
        self.id = self.folder.name.rsplit("-", 1)[1]
        self.task = self.folder / "jsonl"
        self.journaled: dict[str, int] = {}  # journaled key -> requests seen when it was

    def state(self) -> str:
        result = run_inv("status", self.id, "--json", cwd=self.workdir)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["jobs"][0]["state"]

    def done(self) -> int:
        try:
            return json.loads((self.task / "artifacts" / "progress.json").read_text())["done"]
        except (OSError, ValueError, KeyError):
            return 0

    def container(self) -> str:
        (found,) = proctor_containers(**{"proctor.invocation": self.id, "proctor.role": "task"})
        return found["Names"]

    def remember(self) -> None:
        """After a crash: every journaled sample and its request count so far."""
        counts = self.endpoint.counts()
        for line in (self.task / "artifacts" / "samples.jsonl").read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line: not journaled
            key = f"{entry['prompt'][-1]['content']}|{1234 + entry['repeat']}"
            self.journaled.setdefault(key, counts[key])

    def resume(self) -> None:
        resumed = run_inv("resume", "--invocation", self.id, cwd=self.workdir)
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: self.state() in ("RUNNING", "SUCCEEDED"), timeout=60, interval=0.2)

    def check_final(self, tmp_path: Path) -> None:
        wait_for(lambda: self.state() == "SUCCEEDED", timeout=180, interval=0.5)
        raw = (self.task / "artifacts" / "samples.jsonl").read_text()
        assert raw.endswith("\n")
        lines = [json.loads(line) for line in raw.splitlines()]  # no line is torn
        keys = Counter((x["id"], x["repeat"]) for x in lines)
        assert len(keys) == N and set(keys.values()) == {1}
        assert all(x["status"] == "scored" for x in lines)
        counts = self.endpoint.counts()
        resent = {k: (seen, counts[k]) for k, seen in self.journaled.items() if counts[k] != seen}
        assert not resent, f"journaled samples requested again: {list(resent.items())[:5]}"

        spec = TaskSpec.load(self.task / "task.yaml")
        with FakeEndpoint(answer) as clean:
            endpoint = spec.endpoint.model_copy(update={"url": clean.chat_url})
            reference_spec = spec.model_copy(
                update={"endpoint": endpoint, "dataset_dir": str(self.workdir / "data")}
            )
            assert run_task(reference_spec, tmp_path / "ref") == 0
        chaos = json.loads((self.task / "artifacts" / "results.json").read_text())
        reference = json.loads((tmp_path / "ref" / "results.json").read_text())
        assert chaos["metrics"] == reference["metrics"]
        assert chaos["counts"] == reference["counts"] == {"total": N, "scored": N, "errors": 0}


@pytest.fixture
def endpoint():
    with FakeEndpoint(answer, delay=0.05, key=by_sample_and_repeat) as ep:
        yield ep


@pytest.fixture
def workdir(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    yield work
    for folder in (work / "outputs").iterdir() if (work / "outputs").is_dir() else []:
        if not folder.name.startswith("."):
            run_inv("kill", folder.name.rsplit("-", 1)[1], "--grace", "1", cwd=work)


def test_five_container_kills_at_random_moments(tmp_path, workdir, endpoint):
    chaos = Chaos(workdir, endpoint)
    for point in sorted(random.Random(20261128).sample(range(60, 900), 5)):
        wait_for(lambda point=point: chaos.done() >= point, timeout=120, interval=0.05)
        subprocess.run(["docker", "kill", chaos.container()], check=True, capture_output=True)
        wait_for(lambda: chaos.state() == "FAILED", timeout=30, interval=0.2)
        chaos.remember()
        chaos.resume()
    assert len(chaos.journaled) >= 60
    chaos.check_final(tmp_path)


def test_script_kills_stop_the_container_and_resume(tmp_path, workdir, endpoint):
    chaos = Chaos(workdir, endpoint)
    for point in (150, 450, 750):
        wait_for(lambda point=point: chaos.done() >= point, timeout=120, interval=0.05)
        pid, pgid = map(int, (chaos.task / "logs" / "script.pid").read_text().split())
        os.killpg(pgid, signal.SIGKILL)
        # The container notices its script is gone, stops, and the job is LOST.
        wait_for(lambda: chaos.state() == "LOST", timeout=30, interval=0.2)
        assert chaos.done() < N
        chaos.remember()
        chaos.resume()
    chaos.check_final(tmp_path)


def _dockerd() -> tuple[int, list[str]]:
    pid = int(
        subprocess.run(
            ["pidof", "dockerd"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    return pid, argv


def test_docker_daemon_restart_mid_run(tmp_path, workdir, endpoint):
    chaos = Chaos(workdir, endpoint)
    wait_for(lambda: chaos.done() >= 300, timeout=120, interval=0.05)
    pid, argv = _dockerd()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=60, interval=0.2)
    # Started as it ran before, detached: the shell exits at once and leaves the daemon to
    # init, so it outlives this test like the one it replaces.
    subprocess.run(
        ["sh", "-c", 'setsid "$@" >>"$LOG" 2>&1 </dev/null &', "sh", *argv],
        env={**os.environ, "LOG": str(tmp_path / "dockerd.log")},
        check=True,
    )
    wait_for(
        lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
        timeout=90,
        interval=0.5,
    )
    wait_for(lambda: chaos.state() in ("FAILED", "LOST"), timeout=60, interval=0.3)
    assert chaos.done() < N
    chaos.remember()
    time.sleep(0.5)
    chaos.resume()
    chaos.check_final(tmp_path)
