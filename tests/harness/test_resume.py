"""Kill proctor-eval with SIGKILL mid-run, start it again: nothing lost, nothing sent twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from proctor.harness.taskfile import TaskSpec
from tests.fakes.benchmark import answer
from tests.fakes.endpoint import FakeEndpoint, prompt_key

ROOT = Path(__file__).resolve().parents[2]
N, REPEATS, SEED = 40, 2, 1234


def request_key(body: dict[str, Any]) -> str:
    # Repeats share a prompt and differ by seed: count them apart.
    return f"{prompt_key(body)}|{body['seed']}"


def key_of(sample_id: str, repeat: int) -> str:
    i = int(sample_id[1:])
    return f"What is {i} plus {i}?|{SEED + repeat}"


def start(task: Path, results: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.benchmark", "--task-file", str(task)]
        + ["--results", str(results)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finished_lines(results: Path) -> list[dict[str, Any]]:
    raw = (results / "samples.jsonl").read_bytes()
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]  # the last piece is torn or ""


def test_sigkill_then_resume_finishes_the_same_run(tmp_path: Path) -> None:
    with FakeEndpoint(answer, delay=0.05, key=request_key) as ep:
        spec = TaskSpec.model_validate(
            {
                "name": "resume",
                "benchmark": "arith",
                "endpoint": {"url": ep.base_url, "model_id": "m"},
                "params": {
                    "parallelism": 4,
                    "n_repeats": REPEATS,
                    "seed": SEED,
                    "extra": {"n": N},
                },
            }
        )
        task = tmp_path / "task.yaml"
        task.write_text(spec.to_yaml())
        results = tmp_path / "interrupted"

        first = start(task, results)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            journal = results / "samples.jsonl"
            if journal.exists() and journal.read_bytes().count(b"\n") >= 15:
                break
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL
        journaled = {(line["id"], line["repeat"]) for line in finished_lines(results)}
        assert 15 <= len(journaled) < N * REPEATS
        with open(results / "samples.jsonl", "ab") as f:
            f.write(b'{"id": "q39", "repeat": 1, "config_ha')  # as if killed mid-write

        second = start(task, results)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()

        lines = finished_lines(results)
        keys = [(line["id"], line["repeat"]) for line in lines]
        assert len(keys) == len(set(keys)) == N * REPEATS
        assert (results / "samples.jsonl").read_bytes().endswith(b"\n")
        counts = ep.counts()
        assert all(counts[key_of(*key)] == 1 for key in journaled), "a journaled sample was resent"
        assert all(counts[key_of(*key)] >= 1 for key in keys)

        whole = tmp_path / "uninterrupted"
        third = start(task, whole)
        _, err = third.communicate(timeout=120)
        assert third.returncode == 0, err.decode()

    resumed = json.loads((results / "results.json").read_text())
    reference = json.loads((whole / "results.json").read_text())
    for section in ("status", "config_hash", "metrics", "counts", "usage"):
        assert resumed[section] == reference[section], section
    progress = json.loads((results / "progress.json").read_text())
    assert (progress["done"], progress["failed"], progress["total"]) == (80, 0, 80)
