"""Fixtures for the integration tests: the real single-node Slurm the Slurm tests run on.

The Slurm tests (marked ``slurm``) never skip: when no cluster answers they FAIL with the
command that starts one, so a machine without Slurm cannot pass them by accident. CI's
``.ci/run`` starts the cluster before ``make test``; a developer runs ``make slurm-up``
once (root), or deselects them knowingly with ``-m 'not slurm'``.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

CLUSTER_SCRIPT = ROOT / "scripts" / "slurm-cluster.sh"


def _answer(*args: str) -> tuple[bool, str]:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The cluster's node state; fails (never skips) when Slurm or its accounting is down."""
    if shutil.which("sbatch") is None:
        pytest.fail("no Slurm here (sbatch not found): run `make slurm-up` (as root) first")
    ok, out = _answer("sinfo", "-h", "-o", "%T")
    if not ok or not out:
        pytest.fail(f"no Slurm cluster answers (sinfo: {out or 'no node'}): run `make slurm-up`")
    ok, why = _answer("sacctmgr", "-n", "show", "cluster")
    if not ok:
        pytest.fail(f"Slurm accounting is down (sacctmgr: {why}): run `make slurm-up`")
    return out.splitlines()[0]
