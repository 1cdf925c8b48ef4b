"""The sandbox server in local mode (same user, rlimits and timeouts only) and its client:
verdicts, limits, what a misbehaving program or server turns into, and the CLI flag.
The container's isolation is tested in tests/integration/test_sandbox.py.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from proctor.harness.__main__ import main
from proctor.harness.runner import EXIT_OK, run_task
from proctor.harness.sandbox import LocalSandbox, SandboxError, SocketSandbox, Verdict
from proctor.harness.taskfile import Endpoint, Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    with LocalSandbox(slots=2) as sb:
        yield sb


@pytest.mark.parametrize(
    "program, status, detail",
    [
        ("assert sum([1, 2]) == 3", "passed", ""),
        ("assert 1 == 2, 'nope'", "failed", "AssertionError: nope"),
        ("def f(:\n  pass", "failed", "SyntaxError"),
        ("x = bytearray(10 * 1024 ** 3)", "failed", "MemoryError"),
        ("import os\nos._exit(0)", "failed", "no report from the program (exit code 0)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "failed", "signal 9"),
        ("raise SystemExit(0)", "failed", "SystemExit"),
        ("print('x' * 10**6)\nimport sys\nsys.stderr.write('y' * 10**6)", "passed", ""),
        ("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))", "failed", "File too large"),
    ],
)
def test_verdicts(sandbox: LocalSandbox, program: str, status: str, detail: str) -> None:
    verdict = sandbox.run(program, timeout_s=5)
    assert verdict.status == status and detail in verdict.detail, verdict


def test_timeouts_kill_the_whole_process_group_and_other_jobs_go_on(sandbox) -> None:
    spawner = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\ntime.sleep(300)"
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(sandbox.run, p, 1.0) for p in ("while True: pass", spawner)]
        quick = [pool.submit(sandbox.run, "assert True", 5.0) for _ in range(6)]
        assert [f.result().status for f in slow] == ["timeout", "timeout"]
        assert [f.result().status for f in quick] == ["passed"] * 6
    assert time.monotonic() - started < 10


def test_a_bad_request_and_a_missing_server_are_sandbox_errors(sandbox, tmp_path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sandbox.path))
        s.sendall(b"not json\n")
        assert json.loads(s.makefile().readline())["event"] == "refused"
    gone = SocketSandbox(tmp_path / "none.sock")
    with pytest.raises(SandboxError, match="no sandbox"):
        gone.wait_ready(timeout_s=0.3)
    with pytest.raises(SandboxError):
        gone.run("pass")


@dataclass
class Broken:
    """A sandbox that gives no verdict for programs containing 'flaky'."""

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        pass

    def run(self, program: str, timeout_s: float = 10.0) -> Verdict:
        if "flaky" in program:
            raise SandboxError("sandbox died")
        return Verdict("passed", "", 0.01)


def test_no_verdict_is_a_sample_error_not_a_failed_test(tmp_path: Path) -> None:
    answers = iter(["```python\n# flaky\n```"] + ["```python\npass\n```"] * 10)
    with FakeEndpoint(lambda body: next(answers)) as ep:
        spec = TaskSpec(
            name="humaneval",
            benchmark="humaneval",
            endpoint=Endpoint(url=ep.base_url, model_id="fake"),
            params=Params(limit_samples=4, parallelism=1, max_retries=0, max_error_rate=0.5),
        )
        assert run_task(spec, tmp_path, Broken()) == EXIT_OK
    lines = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    errors = [line for line in lines if line["status"] == "error"]
    assert len(errors) == 1 and "SandboxError: sandbox died" in errors[0]["error"]
    assert errors[0]["scores"] == {}
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["metrics"]["pass@1"]["n"] == 3


def test_proctor_eval_with_a_local_sandbox(tmp_path: Path, capsys) -> None:
    with FakeEndpoint(lambda body: "```python\nraise ValueError('no')\n```") as ep:
        spec = TaskSpec(
            name="mbpp",
            benchmark="mbpp",
            endpoint=Endpoint(url=ep.base_url, model_id="fake"),
            params=Params(limit_samples=3, max_retries=0),
        )
        task_file = tmp_path / "task.yaml"
        task_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
        argv = ["--task-file", str(task_file), "--results", str(tmp_path / "out")]
        assert main([*argv, "--sandbox", "local"]) == EXIT_OK
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["metrics"]["pass@1"]["value"] == 0.0
    assert results["counts"] == {"total": 3, "scored": 3, "errors": 0}
