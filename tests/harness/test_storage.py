"""A results folder that fills up or is read-only: the task fails with that reason (exit 4),
the journal up to that point is intact, and a resume elsewhere finishes the run.

The small or read-only filesystem is a real tmpfs, mounted in a private mount namespace
(`unshare --mount --map-root-user`) around a real `proctor-eval` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from proctor.harness.benchmarks import register
from proctor.harness.runner import EXIT_STORAGE, run_task
from proctor.harness.taskfile import TaskSpec
from tests.fakes.benchmark import BENCHMARK, answer
from tests.fakes.endpoint import FakeEndpoint

ROOT = Path(__file__).resolve().parents[2]
N = 400
register(BENCHMARK)

INSIDE = """
set -u
mount -t tmpfs -o size="$SIZE" tmpfs "$RESULTS" || exit 99
cp -a "$SEED"/. "$RESULTS"/
[ "$READ_ONLY" = 1 ] && { mount -o remount,ro "$RESULTS" || exit 98; }
"$PYTHON" -m tests.fakes.benchmark --task-file "$TASK" --results "$RESULTS"
code=$?
cp -a "$RESULTS"/. "$OUT"/
exit $code
"""


def spec(url: str) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "storage",
            "benchmark": "arith",
            "endpoint": {"url": url, "model_id": "m"},
            "params": {"parallelism": 8, "max_retries": 0, "extra": {"n": N}},
        }
    )


def run_in_small_fs(tmp_path: Path, url: str, *, size: str, seed: Path, read_only: bool):
    task = tmp_path / "task.yaml"
    task.write_text(spec(url).to_yaml())
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "mnt").mkdir()
    env = {
        **os.environ,
        "SIZE": size,
        "RESULTS": str(tmp_path / "mnt"),
        "SEED": str(seed),
        "READ_ONLY": "1" if read_only else "0",
        "PYTHON": sys.executable,
        "TASK": str(task),
        "OUT": str(out),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", INSIDE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode not in (98, 99), done.stderr
    return done, out


def complete_lines(journal: Path) -> list[dict]:
    """Every complete journal line (a torn last line is allowed and skipped)."""
    text = journal.read_text()
    lines = text.split("\n")
    if lines and lines[-1]:
        lines = lines[:-1]  # torn: written up to the moment the disk filled
    return [json.loads(line) for line in lines if line]


def test_disk_full_fails_with_the_reason_and_the_journal_resumes(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with FakeEndpoint(answer) as ep:
        done, out = run_in_small_fs(tmp_path, ep.base_url, size="48k", seed=empty, read_only=False)
    assert done.returncode == EXIT_STORAGE, done.stderr
    (message,) = done.stderr.strip().splitlines()
    assert "No space left on device" in message and "resume" in message
    kept = complete_lines(out / "samples.jsonl")
    assert 10 < len(kept) < N
    assert len({x["id"] for x in kept}) == len(kept)

    with FakeEndpoint(answer) as ep:  # resume on a disk with room
        assert run_task(spec(ep.base_url), out) == 0
        assert all(ep.count(f"What is {x['id'][1:]} plus {x['id'][1:]}?") == 0 for x in kept)
    lines = complete_lines(out / "samples.jsonl")
    assert len(lines) == N and len({x["id"] for x in lines}) == N
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == {"total": N, "scored": N, "errors": 0}


def test_read_only_results_fail_with_the_reason_and_keep_the_journal(tmp_path):
    seed = tmp_path / "seed"
    with FakeEndpoint(answer) as ep:
        assert run_task(spec(ep.base_url), seed) == 0
    # Keep a run's first 100 lines: a journal that stopped part-way.
    journal = seed / "samples.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:100]))
    (seed / "results.json").unlink()
    before = journal.read_bytes()
    with FakeEndpoint(answer) as ep:
        done, out = run_in_small_fs(tmp_path, ep.base_url, size="4m", seed=seed, read_only=True)
        assert ep.total == 0
    assert done.returncode == EXIT_STORAGE, done.stderr
    (message,) = done.stderr.strip().splitlines()
    assert "Read-only file system" in message
    assert (out / "samples.jsonl").read_bytes() == before
