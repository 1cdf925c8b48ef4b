"""Replies are bounded (issue 12, class 4): 100 MB bodies (declared and chunked), a 1 MB
gzip that inflates to 1 GiB, and bodies that never end, at the default parallelism, each
end their sample with a clear error while the harness process stays small.

Before the bound, this mix took the harness past 2 GB (aiohttp buffers and inflates
without a limit). The bound is params.max_response_bytes (16 MiB by default) of decoded
body per request, so 8 requests in flight hold at most about 8 x 16 MiB plus chunks.
"""

from __future__ import annotations

import json
import subprocess
import sys

from proctor.harness.bodies import DEFAULT_MAX_RESPONSE_BYTES
from proctor.harness.taskfile import Params, TaskSpec
from tests.security.hostile_server import HostileEndpoint, gzip_bomb
from tests.security.test_hostile_endpoint import write_dataset

# Peak RSS of the harness process over the whole run, measured on the 2-core dev machine:
# 155-230 MiB when this test runs alone; 597-629 MiB when it runs late in a long pytest
# session on a loaded machine (cause not found yet; each request holds at most 16 MiB of
# body). Unbounded, the same mix passed 2 GB and was OOM-killed.
PEAK_RSS_LIMIT_MIB = 400

# The harness runs under a small Python that forks it and reads its rusage: Linux carries the
# RSS of the process that forked a child into the child's ru_maxrss across exec, and pytest's
# own RSS late in a full session is hundreds of MiB (which measured the parent, not the harness).
_MEASURE = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""

BEHAVIOURS = {
    "big": "too_large",
    "big-chunked": "too_large",
    "bomb": "too_large",
    "endless": "too_large",
    "trickle": "timeout",
}


def test_huge_bombed_and_endless_bodies_are_sample_errors_in_bounded_memory(tmp_path):
    assert len(gzip_bomb()) < 2 * 1024 * 1024  # the bomb really is small on the wire
    assert Params().parallelism == 8 and DEFAULT_MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    behaviours = [f"{b}:{i}" for b in BEHAVIOURS for i in range(8 if b != "trickle" else 2)]
    data = write_dataset(tmp_path / "data", behaviours)
    with HostileEndpoint() as ep:
        spec = TaskSpec.model_validate(
            {
                "name": "bounded",
                "benchmark": "jsonl",
                "endpoint": {"url": ep.chat_url, "model_id": "m"},
                "params": {
                    "max_retries": 0,
                    "request_timeout": 10,
                    "max_error_rate": 1,
                    "extra": {"id_field": "id"},
                },
                "dataset_dir": str(data),
            }
        )
        task_file = tmp_path / "task.yaml"
        task_file.write_text(spec.to_yaml())
        rss_file = tmp_path / "peak-rss-kib"
        child = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, str(rss_file), "-m", "proctor.harness"]
            + ["--task-file", str(task_file), "--results", str(tmp_path / "results")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert child.stdout is not None
        with child.stdout:
            out = child.stdout.read().decode()
        child.wait()
    assert child.returncode == 0, out
    peak_mib = int(rss_file.read_text()) / 1024  # KiB on Linux
    print(f"harness peak RSS {peak_mib:.0f} MiB")
    assert peak_mib < PEAK_RSS_LIMIT_MIB
    lines = [
        json.loads(x) for x in (tmp_path / "results" / "samples.jsonl").read_text().splitlines()
    ]
    assert len(lines) == len(behaviours)
    for line in lines:
        expected = BEHAVIOURS[line["id"].split(":")[0]]
        assert line["status"] == "error", line
        assert line["error"].startswith(expected), (line["id"], line["error"], line["latency_s"])
    assert "params.max_response_bytes" in next(
        x["error"] for x in lines if x["id"].startswith("bomb")
    )


def test_a_long_response_is_kept_cut_and_marked(tmp_path):
    from proctor.harness.runner import JOURNAL_TEXT_LIMIT, run_task
    from tests.fakes.endpoint import FakeEndpoint

    data = write_dataset(tmp_path / "data", ["long"])
    long_text = "y" * (JOURNAL_TEXT_LIMIT + 5000)
    with FakeEndpoint(answer=lambda body: long_text) as ep:
        spec = TaskSpec.model_validate(
            {
                "name": "long",
                "benchmark": "jsonl",
                "endpoint": {"url": ep.chat_url, "model_id": "m"},
                "params": {"extra": {"id_field": "id"}},
                "dataset_dir": str(data),
            }
        )
        run_task(spec, tmp_path / "results")
    (line,) = (
        json.loads(x) for x in (tmp_path / "results" / "samples.jsonl").read_text().splitlines()
    )
    assert line["response"].startswith("y" * JOURNAL_TEXT_LIMIT)
    assert line["response"].endswith("[proctor: cut here, 5000 more characters not kept]")


def test_max_response_bytes_is_configurable_and_bounded():
    assert Params(max_response_bytes=2048).max_response_bytes == 2048
    for bad in (0, 10, 2 * 1024**3):
        try:
            Params(max_response_bytes=bad)
        except ValueError:
            continue
        raise AssertionError(f"max_response_bytes={bad} accepted")
