"""Concurrent use: two resumes of one job at once (one is refused, the journal stays whole),
and `inv status` / `inv logs` read while jobs write (never a crash, never torn data)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import ROOT, run_inv
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import (
    by_sample_and_repeat,
    invocation_dir,
    wait_for,
    write_config,
    write_questions,
)

pytestmark = pytest.mark.docker


def start(workdir, url: str, samples: int) -> tuple[str, object]:
    data = write_questions(workdir / "data", samples)
    config = write_config(
        workdir,
        [{"name": "jsonl", "dataset_dir": str(data)}],
        target={"api_endpoint": {"url": url, "model_id": "m"}},
        evaluation={"params": {"parallelism": 4, "max_retries": 0}},
        execution={"image": HARNESS_LATEST},
    )
    result = run_inv("run", "--config", str(config), cwd=workdir)
    assert result.returncode == 0, result.stderr
    folder = invocation_dir(workdir)
    return folder.name.rsplit("-", 1)[1], folder / "jsonl"


def job(workdir, inv_id: str) -> dict:
    result = run_inv("status", inv_id, "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["jobs"][0]


def test_two_resumes_at_once_one_is_refused_and_the_journal_stays_whole(tmp_path):
    with FakeEndpoint(delay=0.05, key=by_sample_and_repeat) as ep:
        inv_id, task = start(tmp_path, ep.chat_url, samples=300)
        wait_for(
            lambda: (job(tmp_path, inv_id)["progress"] or {}).get("done", 0) >= 40,
            timeout=60,
            interval=0.1,
        )
        assert run_inv("kill", inv_id, "--grace", "5", cwd=tmp_path).returncode == 0
        command = [
            sys.executable,
            "-m",
            "invoke",
            "-r",
            str(ROOT),
            "resume",
            "--invocation",
            inv_id,
        ]
        racers = [
            subprocess.Popen(
                command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outcomes = []
        for racer in racers:
            _, err = racer.communicate(timeout=60)
            outcomes.append((racer.returncode, err))
        codes = sorted(code for code, _ in outcomes)
        assert codes == [0, 2], outcomes
        (refusal,) = (err for code, err in outcomes if code == 2)
        assert refusal.count("\n") == 1 and ("already" in refusal or "another" in refusal)
        wait_for(lambda: job(tmp_path, inv_id)["state"] == "SUCCEEDED", timeout=120, interval=0.3)
        assert set(ep.counts().values()) == {1}  # nothing was sent twice
    lines = [json.loads(x) for x in (task / "artifacts" / "samples.jsonl").read_text().splitlines()]
    assert Counter(x["id"] for x in lines) == Counter({str(i): 1 for i in range(1, 301)})


def test_status_and_logs_while_jobs_write(tmp_path):
    """Read as fast as possible while a job writes; every read is whole and sane."""
    from proctor.launcher.jobs import invocations, status

    with FakeEndpoint(delay=0.01) as ep:
        inv_id, task = start(tmp_path, ep.chat_url, samples=400)
        outputs = tmp_path / "outputs"
        seen_running, last_done, reads = False, 0, 0
        while True:
            inv = invocations.invocation(outputs, inv_id)
            (row,) = status.snapshot([inv]).of(inv)
            state, progress = row.status.state, row.obs.progress
            assert state in ("PENDING", "STARTING", "RUNNING", "SUCCEEDED"), row
            if progress is not None:
                assert 0 <= progress.done <= progress.total == 400
                assert progress.done >= last_done  # never goes back: no torn reads
                last_done = progress.done
            seen_running = seen_running or state == "RUNNING"
            reads += 1
            if reads % 20 == 0:
                for command in (["status", inv_id], ["logs", inv_id]):
                    result = run_inv(*command, cwd=tmp_path)
                    assert result.returncode == 0 and "Traceback" not in result.stderr
            if state == "SUCCEEDED":
                break
        assert seen_running and reads > 20
        logs = run_inv("logs", inv_id, cwd=tmp_path)
        assert logs.returncode == 0 and "finished: status=ok" in logs.stdout
