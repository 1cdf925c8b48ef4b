"""Through the launcher: a task whose errors exceed max_error_rate FAILS with that reason,
and `inv resume` sends only what the journal lacks: the errored and the unsent samples."""

from __future__ import annotations

import json

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import run_inv
from tests.fakes.endpoint import FakeEndpoint, Fault
from tests.integration.helpers import invocation_dir, wait_for, write_config, write_questions

pytestmark = pytest.mark.docker

N = 60


def test_error_rate_failure_then_resume_retries_only_what_is_missing(tmp_path):
    healthy = {"on": False}

    def faults(key, nth, body):
        broken = int(key.split()[-1]) % 5 == 0 and not healthy["on"]
        return Fault(503) if broken else None

    data = write_questions(tmp_path / "data", N)
    with FakeEndpoint(delay=0.02, faults=faults) as ep:
        config = write_config(
            tmp_path,
            [{"name": "jsonl", "dataset_dir": str(data)}],
            target={"api_endpoint": {"url": ep.chat_url, "model_id": "m"}},
            evaluation={"params": {"parallelism": 2, "max_retries": 1, "max_error_rate": 0.1}},
            execution={"image": HARNESS_LATEST},
        )
        assert run_inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        inv_id = folder.name.rsplit("-", 1)[1]

        def job() -> dict:
            return json.loads(run_inv("status", inv_id, "--json", cwd=tmp_path).stdout)["jobs"][0]

        wait_for(lambda: job()["state"] == "FAILED", timeout=90, interval=0.3)
        assert job()["reason"].startswith("error rate over the limit"), job()["reason"]
        journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
        first = [json.loads(x) for x in journal.read_text().splitlines()]
        errored = {x["prompt"][-1]["content"] for x in first if x["status"] == "error"}
        scored = {x["prompt"][-1]["content"] for x in first if x["status"] == "scored"}
        assert errored and all(x["error"].startswith("http_503") for x in first if x["error"])
        before = ep.counts()

        healthy["on"] = True
        assert run_inv("resume", "--invocation", inv_id, cwd=tmp_path).returncode == 0
        wait_for(lambda: job()["state"] == "SUCCEEDED", timeout=90, interval=0.3)
        sent = ep.counts() - before
        assert not set(sent) & scored  # no scored sample was asked again
        assert errored <= set(sent) and set(sent.values()) == {1}
        assert len(sent) == N - len(scored)
    final = [json.loads(x) for x in journal.read_text().splitlines()]
    assert len(final) == N and all(x["status"] == "scored" for x in final)
