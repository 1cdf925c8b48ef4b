"""The development cluster itself (scripts/slurm-cluster.sh): a job runs and is accounted."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.conftest import CLUSTER_SCRIPT
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.slurm


def _sacct(job_id: str) -> list[str]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State,ExitCode"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_status_says_every_daemon_is_up(slurm_cluster):
    done = subprocess.run([CLUSTER_SCRIPT, "status"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    for daemon in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"):
        assert f"{daemon}: up" in done.stdout


def test_a_batch_job_runs_and_sacct_records_its_exit(slurm_cluster, tmp_path):
    ok = (
        subprocess.run(
            ["sbatch", "--parsable", "--output", str(tmp_path / "out"), "--wrap", "echo hi"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        .stdout.strip()
        .split(";")[0]
    )
    bad = (
        subprocess.run(
            ["sbatch", "--parsable", "--output", "/dev/null", "--wrap", "exit 7"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        .stdout.strip()
        .split(";")[0]
    )
    wait_for(lambda: _sacct(ok) == [f"{ok}|COMPLETED|0:0"], timeout=60, interval=0.5)
    wait_for(lambda: _sacct(bad) == [f"{bad}|FAILED|7:0"], timeout=60, interval=0.5)
    assert (tmp_path / "out").read_text() == "hi\n"
