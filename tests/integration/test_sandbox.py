"""The sandbox container for real: HumanEval through `inv run`, where some samples' code
attacks. Each attack fails only its own sample, within its timeout; every other sample
passes; the journal is whole; no container is left behind.

The endpoint is a fake on 127.0.0.1 that answers most problems with the reference solution
and the chosen ones with hostile code; a second listener on 127.0.0.1 counts any
connection the code manages to make (none may arrive: the sandbox has no network).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from proctor.harness import benchmarks
from proctor.harness.runner import select_subset
from proctor.harness.taskfile import Params
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.integration.helpers import invocation_dir, proctor_containers, wait_for, write_config

pytestmark = pytest.mark.docker

TIMEOUT_S = 3
ATTACKS = {
    "loop": "while True:\n    pass\n",
    "fork": "import os\nwhile True:\n    os.fork()\n",
    "memory": "x = bytearray(10 * 1024 ** 3)\n",
    "network": "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
    "delete": "import os\nos.remove('/results/samples.jsonl')\n",
    "rewrite": "open('/results/samples.jsonl', 'w').write('{{}}\\n')\n",
    "sabotage": (
        "import os, signal, shutil\n"
        "shutil.rmtree('/sandbox', ignore_errors=True)\n"
        "for path in ('/sandbox/sandbox.sock', '/tmp'):\n"
        "    try:\n        os.remove(path)\n    except OSError:\n        pass\n"
        "for pid in range(1, 2000):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
    ),
}
N = 14  # samples: one per attack, the rest answered with the reference solution


class Listener:
    """Counts TCP connections accepted on 127.0.0.1."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


def test_hostile_code_fails_only_its_own_sample(tmp_path: Path, inv) -> None:
    listener = Listener()
    params = Params(limit_samples=N, seed=11)
    samples = select_subset(benchmarks.get("humaneval").load(params, None), N, seed=11)
    attack_of = {s.prompt: name for s, name in zip(samples, ATTACKS, strict=False)}
    by_prompt = {s.prompt: s for s in samples}

    def answer(body: dict) -> str:
        key = prompt_key(body)
        if key in attack_of:
            attack = ATTACKS[attack_of[key]].format(port=listener.port)
            return f"```python\n{attack}```"
        sample = by_prompt[key]
        return f"```python\n{sample.meta['code_prompt']}{sample.target}```"

    with FakeEndpoint(answer) as ep:
        config = write_config(
            tmp_path,
            [{"name": "humaneval"}],
            target={"api_endpoint": {"url": ep.base_url, "model_id": "fake"}},
            evaluation={
                "params": {
                    "limit_samples": N,
                    "seed": 11,
                    "parallelism": N,
                    "max_retries": 0,
                    "extra": {"timeout_s": TIMEOUT_S},
                }
            },
        )
        started = time.monotonic()
        result = inv("run", "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        task = invocation_dir(tmp_path) / "humaneval"
        wait_for(lambda: (task / "logs" / "stage.exit").exists(), timeout=120)
        elapsed = time.monotonic() - started
        assert ep.total == N

    log = (task / "logs" / "stdout.log").read_text()
    assert (task / "logs" / "stage.exit").read_text().split()[1] == "0", log
    lines = [
        json.loads(line) for line in (task / "artifacts" / "samples.jsonl").read_text().splitlines()
    ]
    assert len(lines) == N and {line["status"] for line in lines} == {"scored"}, log
    outcome = {line["id"]: line for line in lines}
    for sample in samples:
        line = outcome[sample.id]
        attack = attack_of.get(sample.prompt)
        expected = 0.0 if attack else 1.0
        assert line["scores"] == {"pass@1": expected}, (attack, line["extracted"])
        if attack == "loop":
            assert line["extracted"].startswith("timeout"), line["extracted"]
        elif attack == "fork":  # the process limit stops it, or the timeout does
            assert "BlockingIOError" in line["extracted"] or "timeout" in line["extracted"]
        elif attack == "memory":
            assert "MemoryError" in line["extracted"]
        elif attack in ("delete", "rewrite"):
            assert "FileNotFoundError" in line["extracted"] or "Errno" in line["extracted"]
    results = json.loads((task / "artifacts" / "results.json").read_text())
    assert results["counts"] == {"total": N, "scored": N, "errors": 0}
    assert results["metrics"]["pass@1"]["value"] == pytest.approx((N - len(ATTACKS)) / N)
    assert listener.accepted == 0
    # Two attacks wait out their timeout; the slots run them beside the others.
    assert elapsed < 60, elapsed
    # stage.exit is written just before the EXIT trap removes the sandbox and its folder.
    wait_for(lambda: not (task / "sandbox").exists(), timeout=30)
    inv_id = invocation_dir(tmp_path).name.rsplit("-", 1)[1]
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)


def test_the_sandbox_goes_when_its_script_is_killed(tmp_path: Path, inv) -> None:
    """SIGKILL to run.sh runs no trap: the sandbox still ends, by its stdin pipe closing."""
    with FakeEndpoint(lambda body: "```python\nwhile True:\n    pass\n```") as ep:
        config = write_config(
            tmp_path,
            [{"name": "humaneval"}],
            target={"api_endpoint": {"url": ep.base_url, "model_id": "fake"}},
            evaluation={"params": {"limit_samples": 4, "extra": {"timeout_s": 60}}},
        )
        assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        inv_id = folder.name.rsplit("-", 1)[1]

        def roles() -> set[str]:
            containers = proctor_containers(**{"proctor.invocation": inv_id})
            return {c["Labels"].split("proctor.role=")[1].split(",")[0] for c in containers}

        wait_for(lambda: ep.total >= 1 and roles() == {"task", "sandbox"}, timeout=60)
        pid = int((folder / "humaneval" / "logs" / "script.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        # The task container stops and stays (exited) for inv status; the sandbox is removed.
        wait_for(lambda: roles() == {"task"}, timeout=60)
        wait_for(
            lambda: all(
                c["State"] != "running"
                for c in proctor_containers(**{"proctor.invocation": inv_id})
            ),
            timeout=60,
        )
    for container in proctor_containers(**{"proctor.invocation": inv_id}):
        subprocess.run(["docker", "rm", "-f", container["ID"]], capture_output=True, check=False)
