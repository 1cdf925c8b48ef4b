"""derive(): the whole job state machine, case by case and over every combination."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from proctor.launcher.executors.base import JobFacts, Terms, Unit
from proctor.launcher.executors.local import processes
from proctor.launcher.jobs.invocations import JobRef
from proctor.launcher.jobs.status import (
    ENDED,
    ExitMarker,
    Observation,
    ProgressSeen,
    ResultsSeen,
    derive,
    observe,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUNNING = Unit("c", "running", alive=True)
CREATED = Unit("c", "created", alive=True)
EXITED_0 = Unit("c", "exited", alive=False, exit_code=0)
EXITED_137 = Unit("c", "exited", alive=False, exit_code=137)
PROGRESS = ProgressSeen(done=3, failed=1, total=10, rate_per_s=2.0, eta_s=3.0)
EXIT_OK = ExitMarker(0, "", T0 + timedelta(seconds=30))


def started(**kw):
    """A job whose run.sh got as far as the container (stage.pre-start + stage.running)."""
    return Observation(
        pre_start=True, running=True, started_at=T0, now=T0 + timedelta(seconds=60), **kw
    )


def ended(code, reason="", **kw):
    at = T0 + timedelta(seconds=30)
    return started(exit=ExitMarker(code, reason, at), **kw)


CASES = [
    # (name, observation, state, words the reason must contain)
    ("nothing yet", Observation(), "PENDING", ""),
    ("queued by a live driver", Observation(queued=True), "PENDING", "queued"),
    ("driver gone before it started", Observation(queued=False), "PENDING", "inv resume"),
    ("script up, no marker yet", Observation(script_alive=True), "STARTING", "starting"),
    (
        "pre-start, script alive",
        Observation(pre_start=True, script_alive=True),
        "STARTING",
        "starting",
    ),
    (
        "waiting for the deployment",
        Observation(pre_start=True, script_alive=True, deployment=True),
        "STARTING",
        "deployment",
    ),
    ("pre-start, script dead", Observation(pre_start=True), "LOST", "inv resume"),
    ("container running", started(script_alive=True, unit=RUNNING), "RUNNING", ""),
    ("container being created", started(script_alive=True, unit=CREATED), "RUNNING", ""),
    ("container not there yet", started(script_alive=True), "RUNNING", "container starting"),
    (
        "container exited, script finishing",
        started(script_alive=True, unit=EXITED_0),
        "RUNNING",
        "ending",
    ),
    (
        "script killed, container still working",
        started(unit=RUNNING),
        "RUNNING",
        "",
    ),
    ("script and container gone", started(), "LOST", "script and container gone: run inv resume"),
    ("script gone, container exited", started(unit=EXITED_0), "LOST", "exited (0)"),
    ("script gone, Docker down", started(known=False), "LOST", "Docker did not answer"),
    ("exit 0", ended(0), "SUCCEEDED", ""),
    ("exit 0 while an old container lingers", ended(0, unit=EXITED_0), "SUCCEEDED", ""),
    ("exit 1", ended(1), "FAILED", "exit code 1"),
    ("exit 1 with the log's last line", ended(1, last_error="boom"), "FAILED", "exit code 1: boom"),
    ("docker kill", ended(137), "FAILED", "killed by SIGKILL (exit 137)"),
    ("docker stop", ended(143), "FAILED", "SIGTERM (exit 143)"),
    ("OOM", ended(137, "oom-killed"), "FAILED", "OOM-killed (exit 137)"),
    ("missing variable", ended(2, "missing-env:HF_TOKEN"), "FAILED", "HF_TOKEN is not set"),
    ("deployment failed", ended(1, "deployment-failed"), "FAILED", "deployment failed"),
    (
        "docker run failed",
        ended(125, "docker-run-failed"),
        "FAILED",
        "docker run failed (exit 125)",
    ),
    ("torn exit marker", started(exit=ExitMarker(None)), "FAILED", "unreadable"),
    (
        "exit marker being written",
        started(exit=ExitMarker(None), script_alive=True),
        "RUNNING",
        "finishing",
    ),
    (
        "error rate",
        ended(
            3,
            results=ResultsSeen(
                "error_rate_exceeded", scored=8, errors=2, total=10, max_error_rate=0.1
            ),
            last_error="http_503: injected",
        ),
        "FAILED",
        "error rate over the limit: 2 of 10 samples failed, max 0.1; last: http_503",
    ),
    (
        "endpoint unreachable",
        ended(
            3,
            results=ResultsSeen("error_rate_exceeded", scored=0, errors=1, total=10),
            last_error="connection: Cannot connect to host 127.0.0.1:9",
        ),
        "FAILED",
        "endpoint unreachable (connection: Cannot connect",
    ),
    (
        "endpoint timing out",
        ended(
            3,
            results=ResultsSeen("error_rate_exceeded", scored=0, errors=1, total=10),
            last_error="timeout: no response in 5s",
        ),
        "FAILED",
        "endpoint unreachable (timeout",
    ),
    ("exit 3 from another program", ended(3), "FAILED", "exit code 3"),
    ("killed before it started", Observation(killed=True), "KILLED", "before it started"),
    ("killed, still stopping", started(killed=True, script_alive=True), "KILLED", "stopping"),
    (
        "killed, container still up",
        started(killed=True, unit=RUNNING),
        "KILLED",
        "stopping",
    ),
    ("killed and ended", ended(143, killed=True), "KILLED", "killed by inv kill (exit 143)"),
    ("killed after it succeeded", ended(0, killed=True), "KILLED", "exit 0"),
]


@pytest.mark.parametrize(("name", "obs", "state", "words"), CASES, ids=[c[0] for c in CASES])
def test_derive_case(name, obs, state, words):
    status = derive(obs)
    assert status.state == state
    assert words in status.reason


def test_exit_code_and_elapsed():
    status = derive(ended(137))
    assert status.exit_code == 137
    assert status.elapsed_s == 30.0
    running = derive(started(script_alive=True, unit=RUNNING))
    assert running.elapsed_s == 60.0  # still running: until now
    assert derive(Observation()).elapsed_s is None


MARKERS = {
    "none": {},
    "pre-start": {"pre_start": True},
    "running": {"pre_start": True, "running": True},
    "exit 0": {"pre_start": True, "running": True, "exit": EXIT_OK},
    "exit 137": {"pre_start": True, "running": True, "exit": ExitMarker(137)},
    "exit oom": {"pre_start": True, "running": True, "exit": ExitMarker(137, "oom-killed")},
    "exit torn": {"pre_start": True, "running": True, "exit": ExitMarker(None)},
}
CONTAINERS = {
    "none": {},
    "created": {"unit": CREATED},
    "running": {"unit": RUNNING},
    "exited": {"unit": EXITED_137},
    "unknown": {"known": False},
}


@pytest.mark.parametrize("markers", MARKERS)
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("script_alive", [False, True])
@pytest.mark.parametrize("killed", [False, True])
def test_derive_every_combination(markers, container, script_alive, killed):
    """Rules that hold whatever else is observed; progress and the driver never change them."""
    base = {**MARKERS[markers], **CONTAINERS[container], "script_alive": script_alive}
    states = {
        derive(Observation(**base, killed=killed, progress=p, queued=d)).state
        for p, d in itertools.product([None, PROGRESS], [None, True, False])
    }
    if markers != "none" or container in ("created", "running") or script_alive:
        assert len(states) == 1, "progress or the driver changed a started job's state"
    state = derive(Observation(**base, killed=killed)).state
    alive = script_alive or container in ("created", "running")
    exit_marker = MARKERS[markers].get("exit")
    if killed:
        expected = "KILLED"
    elif exit_marker is not None and exit_marker.code is None and alive:
        expected = "RUNNING"
    elif exit_marker is not None:
        expected = "SUCCEEDED" if exit_marker.code == 0 else "FAILED"
    elif markers == "pre-start" and container not in ("created", "running"):
        expected = "STARTING" if script_alive else "LOST"
    elif markers in ("pre-start", "running"):
        expected = "RUNNING" if alive else "LOST"
    elif container in ("created", "running"):
        expected = "RUNNING"
    else:
        expected = "STARTING" if script_alive else "PENDING"
    assert state == expected
    if state == "LOST":
        assert "run inv resume" in derive(Observation(**base, killed=killed)).reason
    assert (state in ENDED) == (killed or state in ("SUCCEEDED", "FAILED", "LOST"))


# -- observe(): reading files that may be missing, empty or half-written --------------------


def job_at(tmp_path) -> JobRef:
    job = JobRef(id="0123abcd.0", index=0, task="t", folder=tmp_path / "t")
    job.logs.mkdir(parents=True)
    job.artifacts.mkdir()
    return job


def look(job, **kw):
    """observe() with the facts the local executor would report of the job's script."""
    alive = processes.script_alive(job.logs / "script.pid") is not None
    args = {"facts": JobFacts(script_alive=alive), "deployment": False}
    return observe(job, now=T0, **{**args, **kw})


def test_observe_reads_markers_progress_and_failure(tmp_path):
    job = job_at(tmp_path)
    (job.logs / "stage.pre-start").write_text("2026-01-02T03:04:05Z\n")
    (job.logs / "stage.running").write_text("2026-01-02T03:04:06Z\n")
    (job.logs / "stage.exit").write_text("2026-01-02T03:05:05Z 3\n")
    (job.artifacts / "progress.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "done": 1,
                "failed": 9,
                "total": 10,
                "rate_per_s": 0.5,
                "eta_s": None,
            }
        )
    )
    (job.artifacts / "results.json").write_text(
        json.dumps(
            {
                "status": "error_rate_exceeded",
                "max_error_rate": 0.05,
                "counts": {"scored": 1, "errors": 9, "total": 10},
            }
        )
    )
    (job.logs / "stdout.log").write_text(
        "2026 start\n2026 error budget spent: 9 errors > max_error_rate 0.05 x 10; "
        "last: connection: Cannot connect to host 127.0.0.1:9; stopping\n"
        "[proctor] 2026 job exited with 3\n"
    )
    obs = look(job)
    assert (
        obs.pre_start and obs.running and obs.exit == ExitMarker(3, "", T0 + timedelta(minutes=1))
    )
    assert obs.progress == ProgressSeen(1, 9, 10, 0.5, None)
    assert obs.last_error == "connection: Cannot connect to host 127.0.0.1:9"
    status = derive(obs)
    assert (status.state, status.elapsed_s) == ("FAILED", 60.0)
    assert status.reason.startswith("endpoint unreachable (connection:")


@pytest.mark.parametrize(
    "progress",
    ["", "{", '{"done": 1', "[]", '{"done": "x", "total": 3}', "\0\0\0"],
    ids=["empty", "brace", "torn", "list", "bad types", "zeros"],
)
def test_torn_files_never_crash(tmp_path, progress):
    job = job_at(tmp_path)
    (job.artifacts / "progress.json").write_text(progress)
    for marker in ("stage.pre-start", "stage.running", "stage.exit", "script.pid"):
        (job.logs / marker).write_text("")
    (job.artifacts / "results.json").write_text(progress)
    obs = look(job)
    assert obs.progress is None
    assert obs.exit == ExitMarker(None)
    assert derive(obs).state == "FAILED"


def test_stale_script_pid_is_not_alive(tmp_path):
    job = job_at(tmp_path)
    (job.logs / "stage.pre-start").write_text("2026-01-02T03:04:05Z\n")
    (job.logs / "stage.running").write_text("2026-01-02T03:04:06Z\n")
    # pid 1 exists but is not a run.sh; 2**22+1 is above pid_max.
    for pid in ("1 1", f"{2**22 + 1} {2**22 + 1}", "garbage"):
        (job.logs / "script.pid").write_text(pid)
        assert derive(look(job)).state == "LOST"


def test_missing_logs_folder_is_pending(tmp_path):
    job = JobRef(id="0123abcd.0", index=0, task="t", folder=tmp_path / "gone")
    assert derive(look(job)).state == "PENDING"


def test_a_full_results_folder_is_named():
    from proctor.launcher.jobs.status import ExitMarker, Observation, derive

    obs = Observation(pre_start=True, running=True, exit=ExitMarker(code=4, reason=""))
    status = derive(obs)
    assert status.state == "FAILED" and "full or read-only" in status.reason


# -- what other executors report (a Slurm executor's words) ---------------------------------

SLURM = Terms(unit="Slurm job", service="Slurm", driver="the Slurm queue")


def test_executor_words_reach_the_reasons():
    pending = Unit("17", "PENDING", alive=False, reason="Priority")  # waiting is not alive
    assert derive(Observation(queued=True, unit=pending, terms=SLURM)).reason == "queued (Priority)"
    gone = derive(started(terms=SLURM, known=False))
    assert gone.state == "LOST" and "Slurm job unknown (Slurm did not answer)" in gone.reason
    timeout = Unit("17", "TIMEOUT", alive=False, exit_code=0, reason="TIMEOUT", ended=True)
    failed = derive(ended(143, unit=timeout, terms=SLURM))
    assert (failed.state, failed.reason) == ("FAILED", "TIMEOUT (exit 143)")
    # Ended by the service before the script wrote its exit: FAILED, not LOST.
    cut = derive(started(unit=timeout, terms=SLURM))
    assert (cut.state, cut.reason, cut.exit_code) == ("FAILED", "TIMEOUT", None)
    completed = Unit("17", "COMPLETED", alive=False, exit_code=0, ended=True)
    assert derive(started(unit=completed, terms=SLURM)).state == "LOST"
    lagging = derive(started(terms=SLURM, settling=True))
    assert lagging.state == "RUNNING" and "not listed by Slurm yet" in lagging.reason
    assert derive(started(terms=SLURM)).state == "LOST"
    never = derive(Observation(queued=False, terms=SLURM))
    assert "the Slurm queue is gone" in never.reason


def test_a_requeued_job_is_pending_until_its_next_attempt_starts():
    timeout = Unit("17", "TIMEOUT", alive=False, reason="TIMEOUT")
    obs = ended(143, unit=timeout, terms=SLURM, requeued=True, attempt="2/4")
    assert (derive(obs).state, derive(obs).reason) == ("PENDING", "resubmitted after TIMEOUT")
    assert derive(ended(143, unit=timeout, terms=SLURM, requeued=True, killed=True)).state == (
        "KILLED"
    )
