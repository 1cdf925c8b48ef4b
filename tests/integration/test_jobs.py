"""Job management for real: inv status/logs/kill/resume on a real Docker Engine.

The harness image runs the built-in jsonl benchmark against a fake OpenAI endpoint in
this process (127.0.0.1, so the containers use the host network), which answers every
question correctly after a delay and counts the requests it gets per (prompt, seed):
the seed is params.seed + repeat, so that is one count per (sample, repeat).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import ROOT, run_inv
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import (
    BASE_IMAGE,
    by_sample_and_repeat,
    free_port,
    invocation_dir,
    proctor_containers,
    wait_for,
    write_config,
    write_questions,
)

pytestmark = pytest.mark.docker

HARNESS_IMAGE = HARNESS_LATEST


@pytest.fixture
def endpoint():
    with FakeEndpoint(delay=0.2, key=by_sample_and_repeat) as ep:
        yield ep


@pytest.fixture
def workdir(tmp_path):
    """A folder with a dataset; every invocation left running at the end is killed."""
    data = tmp_path / "data"
    data.mkdir()
    yield tmp_path
    outputs = tmp_path / "outputs"
    for folder in outputs.iterdir() if outputs.is_dir() else []:
        if not folder.name.startswith("."):
            run_inv("kill", folder.name.rsplit("-", 1)[1], "--grace", "1", cwd=tmp_path)


def jsonl_config(workdir: Path, url: str, *, samples: int, tasks: int = 1, **execution):
    write_questions(workdir / "data", samples)
    task = {"name": "jsonl", "dataset_dir": str(workdir / "data")}
    return write_config(
        workdir,
        [dict(task) for _ in range(tasks)],
        target={"api_endpoint": {"url": url, "model_id": "fake-model"}},
        evaluation={"params": {"parallelism": 2, "max_retries": 0}},
        execution={"image": HARNESS_IMAGE, **execution},
    )


def start(workdir: Path, config: Path, *overrides: str) -> str:
    args = [arg for o in overrides for arg in ("-o", o)]
    result = run_inv("run", "--config", str(config), *args, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return invocation_dir(workdir).name.rsplit("-", 1)[1]


def status(workdir: Path, ident: str = "") -> dict:
    result = run_inv("status", *([ident] if ident else []), "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def states(workdir: Path, ident: str = "") -> list[str]:
    return [job["state"] for job in status(workdir, ident)["jobs"]]


def journal(task_dir: Path) -> list[tuple[str, int]]:
    lines = (task_dir / "artifacts" / "samples.jsonl").read_text().splitlines()
    return [(entry["id"], entry["repeat"]) for entry in map(json.loads, lines)]


def test_three_parallel_tasks_go_pending_running_succeeded(workdir, endpoint):
    config = jsonl_config(workdir, endpoint.chat_url, samples=24, tasks=3, max_parallel=2)
    inv_id = start(workdir, config)
    follower = subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(ROOT), "logs", inv_id, "--follow"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: dict[str, list[str]] = {}
    progress: dict[str, list[int]] = {}

    def watch() -> bool:
        snap = status(workdir, inv_id)
        for job in snap["jobs"]:
            if not seen.setdefault(job["task"], []) or seen[job["task"]][-1] != job["state"]:
                seen[job["task"]].append(job["state"])
            if job["progress"] and job["state"] == "RUNNING":
                progress.setdefault(job["task"], []).append(job["progress"]["done"])
        return all(job["state"] == "SUCCEEDED" for job in snap["jobs"])

    wait_for(watch, timeout=90, interval=0.1)
    order = ["PENDING", "STARTING", "RUNNING", "SUCCEEDED"]
    for task, history in seen.items():
        assert history == sorted(history, key=order.index), (task, history)
        assert "RUNNING" in history and history[-1] == "SUCCEEDED", (task, history)
    assert seen["jsonl.3"][0] == "PENDING"  # max_parallel 2: the third waits its turn
    rising = [p for p in progress.values() if len(set(p)) > 1]
    assert rising and all(p == sorted(p) for p in progress.values()), progress
    assert set(endpoint.counts().values()) == {3}  # each question once per task

    out, err = follower.communicate(timeout=30)  # --follow ends by itself
    assert follower.returncode == 0, err
    for task in ("jsonl.1", "jsonl.2", "jsonl.3"):
        assert f"{task} | " in out and f"({task}) exited with 0" in out
    done = run_inv("logs", inv_id, "--follow", cwd=workdir, timeout=30)
    assert done.returncode == 0  # the same lines, job after job instead of interleaved
    assert sorted(done.stdout.splitlines()) == sorted(out.splitlines())

    listing = run_inv("ls", cwd=workdir)
    assert inv_id in listing.stdout and "3 SUCCEEDED" in listing.stdout


@pytest.fixture
def slow_endpoint():
    """40 requests take 20 s at parallelism 2, so the kill lands mid-run however slowly
    `inv` starts on a loaded machine (at the shared fixture's 0.2 s the run was 60-80% done
    when the kill landed on an idle machine, and all done under load)."""
    with FakeEndpoint(delay=1.0, key=by_sample_and_repeat) as ep:
        yield ep


def test_kill_mid_run_then_resume_sends_no_finished_sample_twice(workdir, slow_endpoint):
    endpoint = slow_endpoint
    config = jsonl_config(workdir, endpoint.chat_url, samples=20)
    inv_id = start(workdir, config, "evaluation.params.n_repeats=2")
    task_dir = invocation_dir(workdir) / "jsonl"

    def done() -> int:
        job = status(workdir, inv_id)["jobs"][0]
        return job["progress"]["done"] if job["progress"] else 0

    wait_for(lambda: done() >= 6, timeout=60, interval=0.1)
    killed = run_inv("kill", inv_id, cwd=workdir)
    assert killed.returncode == 0, killed.stderr
    assert f"{inv_id}.0 (jsonl): RUNNING -> KILLED" in killed.stdout
    job = status(workdir, inv_id)["jobs"][0]
    assert job["state"] == "KILLED", job
    assert not proctor_containers(**{"proctor.invocation": inv_id})
    again = run_inv("kill", inv_id, cwd=workdir)
    assert again.returncode == 0 and "already ended (KILLED)" in again.stdout

    finished = journal(task_dir)
    assert 6 <= len(finished) < 40
    counts_before = endpoint.counts()

    # The resumed run must still be busy when it is resumed again and run by hand below:
    # each of its requests takes 4 s until then (the run could finish first otherwise).
    endpoint.delay = 4.0
    resumed = run_inv("resume", "--invocation", inv_id, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming jsonl (KILLED)" in resumed.stdout
    second = run_inv("resume", "--invocation", inv_id, cwd=workdir)
    assert second.returncode == 2
    assert "already" in second.stderr and second.stderr.count("\n") == 1

    wait_for(lambda: states(workdir, inv_id) != ["PENDING"], timeout=60, interval=0.1)
    by_hand = subprocess.run(
        ["bash", str(task_dir / "run.sh")], capture_output=True, text=True, timeout=30
    )
    assert by_hand.returncode == 75 and "already running" in by_hand.stderr
    endpoint.delay = 0.05

    wait_for(lambda: states(workdir, inv_id) == ["SUCCEEDED"], timeout=60, interval=0.2)
    final = journal(task_dir)
    assert sorted(final) == sorted({(str(i), r) for i in range(1, 21) for r in (0, 1)})
    counts = endpoint.counts()
    for sample_id, repeat in finished:
        key = f"question {int(sample_id) - 1}|{1234 + repeat}"
        assert counts[key] == 1, f"{key} was finished before the kill but sent again"
    assert sum(counts.values()) - sum(counts_before.values()) == 40 - len(finished)
    log = (task_dir / "logs" / "stdout.log").read_text()
    assert f"resume: skipped {len(finished)} journaled" in log


def test_docker_kill_fails_the_job_with_its_reason(workdir, endpoint):
    config = jsonl_config(workdir, endpoint.chat_url, samples=40)
    inv_id = start(workdir, config)
    wait_for(lambda: states(workdir, inv_id) == ["RUNNING"], timeout=60, interval=0.2)
    (container,) = proctor_containers(**{"proctor.invocation": inv_id})
    subprocess.run(["docker", "kill", container["Names"]], check=True, capture_output=True)
    wait_for(lambda: states(workdir, inv_id) == ["FAILED"], timeout=30)
    job = status(workdir, inv_id)["jobs"][0]
    assert job["reason"] == "killed by SIGKILL (exit 137)" and job["exit_code"] == 137
    table = run_inv("status", cwd=workdir).stdout
    assert "FAILED" in table and "killed by SIGKILL (exit 137)" in table


def test_killing_the_script_leaves_the_job_lost_and_resume_recovers_it(workdir, endpoint):
    config = jsonl_config(workdir, endpoint.chat_url, samples=16)
    inv_id = start(workdir, config)
    logs = invocation_dir(workdir) / "jsonl" / "logs"
    wait_for(lambda: states(workdir, inv_id) == ["RUNNING"], timeout=60, interval=0.2)
    pid, pgid = map(int, (logs / "script.pid").read_text().split())
    assert pid == pgid  # its own group: run_all.sh started it with setsid
    os.killpg(pgid, signal.SIGKILL)  # run.sh and its docker client; the container runs on
    wait_for(lambda: states(workdir, inv_id) == ["LOST"], timeout=60, interval=0.3)
    job = status(workdir, inv_id)["jobs"][0]
    assert "run inv resume" in job["reason"]
    assert "inv resume --invocation" in run_inv("status", inv_id, cwd=workdir).stdout

    resumed = run_inv("resume", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: states(workdir, inv_id) == ["SUCCEEDED"], timeout=60, interval=0.3)
    assert set(endpoint.counts().values()) == {1}


def test_sequential_run_killed_during_task_one_never_starts_task_two(workdir, endpoint):
    config = jsonl_config(workdir, endpoint.chat_url, samples=40, tasks=2, mode="sequential")
    inv_id = start(workdir, config)
    folder = invocation_dir(workdir)
    wait_for(lambda: states(workdir, inv_id) == ["RUNNING", "PENDING"], timeout=60, interval=0.2)
    killed = run_inv("kill", inv_id, cwd=workdir)
    assert killed.returncode == 0, killed.stderr
    assert f"{inv_id}.1 (jsonl.2): PENDING -> KILLED (will not start)" in killed.stdout
    snap = status(workdir, inv_id)
    assert [j["state"] for j in snap["jobs"]] == ["KILLED", "KILLED"]
    assert "before it started" in snap["jobs"][1]["reason"]
    pid = int((folder / "run_all.pid").read_text().split()[0])
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=15)
    assert not (folder / "jsonl.2" / "logs" / "stage.pre-start").exists()
    assert not proctor_containers(**{"proctor.job": f"{inv_id}.1"})
    assert states(workdir, inv_id) == ["KILLED", "KILLED"]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_unreachable_endpoint_is_named_as_the_reason(workdir):
    # inv run checks that the endpoint answers, so it goes away only after the start.
    with FakeEndpoint() as ep:
        config = jsonl_config(workdir, ep.chat_url, samples=5)
        inv_id = start(workdir, config)
    wait_for(lambda: states(workdir, inv_id) == ["FAILED"], timeout=60, interval=0.3)
    job = status(workdir, inv_id)["jobs"][0]
    assert job["exit_code"] == 3
    assert job["reason"].startswith("endpoint unreachable (connection:"), job["reason"]


def test_kill_while_waiting_for_the_deployment_stops_everything(workdir):
    config = write_config(
        workdir,
        [{"name": "t", "container": BASE_IMAGE, "command": "echo should-not-run"}],
        deployment={
            "type": "docker",
            "image": BASE_IMAGE,
            "port": free_port(),
            "command": "echo 'loading forever'; exec sleep 600",
            "startup_timeout": 120,
        },
        target={"api_endpoint": {"model_id": "m"}},
    )
    inv_id = start(workdir, config)
    wait_for(lambda: states(workdir, inv_id) == ["STARTING"], timeout=60, interval=0.2)
    assert status(workdir, inv_id)["jobs"][0]["reason"] == "waiting for the deployment"
    killed = run_inv("kill", inv_id, "--grace", "5", cwd=workdir, timeout=60)
    assert killed.returncode == 0, killed.stderr
    assert f"{inv_id}.0 (t): STARTING -> KILLED (stopped)" in killed.stdout
    assert states(workdir, inv_id) == ["KILLED"]
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)
    log = (invocation_dir(workdir) / "t" / "logs" / "stdout.log").read_text()
    assert "should-not-run" not in log
