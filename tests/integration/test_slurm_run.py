"""`execution.type: slurm` for real: the cluster of scripts/slurm-cluster.sh runs the jobs.

One cluster serves the whole session (the ``slurm_cluster`` fixture fails, never skips,
when it is down); jobs are short because they share two cores with everything else.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import ROOT
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.conftest import CLUSTER_SCRIPT
from tests.integration.helpers import (
    BASE_IMAGE,
    all_text_under,
    by_sample_and_repeat,
    invocation_dir,
    wait_for,
    write_config,
    write_questions,
)

pytestmark = [pytest.mark.slurm, pytest.mark.docker]


@pytest.fixture(scope="module")
def podman_image(slurm_cluster) -> str:
    """The harness image, copied into podman when podman's copy differs."""
    subprocess.run([CLUSTER_SCRIPT, "podman-load", HARNESS_LATEST], check=True)
    return HARNESS_LATEST


def slurm_config(tmp_path: Path, url: str, tasks: int = 2, n: int = 8, **execution) -> Path:
    data = write_questions(tmp_path / "data", n)
    return write_config(
        tmp_path,
        [{"name": "jsonl", "dataset_dir": str(data)} for _ in range(tasks)],
        target={"api_endpoint": {"url": url, "model_id": "m"}},
        evaluation={"params": {"parallelism": 2}},
        execution={"type": "slurm", "time_limit": "10", **execution},
    )


def metrics(folder: Path) -> dict[str, dict]:
    out = {}
    for results in sorted(folder.glob("*/artifacts/results.json")):
        data = json.loads(results.read_text())
        out[results.parent.parent.name] = {k: v["value"] for k, v in data["metrics"].items()}
    return out


def slurm_ids(folder: Path) -> list[str]:
    return [
        line.split()[1]
        for path in sorted(folder.glob("*/logs/slurm.jobs"))
        for line in path.read_text().splitlines()
    ]


def report_ids(folder: Path) -> list[str]:
    path = folder / "logs" / "slurm.report"
    return [line.split()[1] for line in path.read_text().splitlines()]


def sacct_lines(job_id: str, fields: str) -> list[str]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", job_id, "-o", fields],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def queued(ids: list[str]) -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    return set(out.split()) & set(ids)


def status_json(inv, tmp_path: Path) -> list[dict]:
    result = inv("status", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return data[0]["jobs"] if isinstance(data, list) else data["jobs"]


def containers_of(runtime: str, inv_id: str) -> list[str]:
    out = subprocess.run(
        [runtime, "ps", "-aq", "--filter", f"label=proctor.invocation={inv_id}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def local_metrics(tmp_path_factory) -> dict[str, dict]:
    """The same two-task config run locally (Docker on this host), for comparison."""
    from tests.conftest import run_inv

    tmp = tmp_path_factory.mktemp("local")
    with FakeEndpoint() as ep:
        config = slurm_config(tmp, ep.chat_url)
        raw = yaml.safe_load(config.read_text())
        raw["execution"] = {"output_dir": str(tmp / "outputs")}
        config.write_text(yaml.safe_dump(raw))
        result = run_inv("run", "--config", str(config), "--wait", cwd=tmp, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    return metrics(invocation_dir(tmp))


@pytest.mark.parametrize("runtime", ["docker", "podman", "none"])
def test_two_tasks_succeed_with_the_metrics_of_a_local_run(
    runtime, tmp_path, inv, slurm_cluster, local_metrics, request
):
    if runtime == "podman":
        request.getfixturevalue("podman_image")
    with FakeEndpoint() as ep:
        config = slurm_config(tmp_path, ep.chat_url, container_runtime=runtime)
        result = inv("run", "--config", str(config), "--wait", cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    folder = invocation_dir(tmp_path)
    jobs = status_json(inv, tmp_path)
    assert [j["state"] for j in jobs] == ["SUCCEEDED", "SUCCEEDED"]
    assert metrics(folder) == local_metrics and len(local_metrics) == 2
    assert (folder / "jsonl.1" / "run.sbatch").is_file()
    assert not (folder / "jsonl.1" / "run.sh").exists()
    ids = slurm_ids(folder)
    acct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", "JobID,State,ExitCode"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(acct) == sorted(f"{i}|COMPLETED|0:0" for i in ids)
    if runtime != "none":
        assert not containers_of(runtime, folder.name.rsplit("-", 1)[1])
    # --wait returned after the report job, which ran once the tasks had ended.
    (report,) = report_ids(folder)
    assert (folder / "logs" / "report.exit").read_text().split()[1:] == ["0", report]
    assert "jsonl.1" in (folder / "report.html").read_text()
    (end,) = {line.split("|")[1] for line in sacct_lines(report, "JobID,State")}
    assert end == "COMPLETED"


def test_status_names_the_report_job_that_still_runs_after_the_tasks(tmp_path, inv, slurm_cluster):
    """Every task has ended but the report job is still in Slurm (held here, so the window
    is not a race): inv status says so under the table and in --json; once the report
    job has run, it says nothing more."""
    with FakeEndpoint() as ep:
        config = slurm_config(tmp_path, ep.chat_url, tasks=1, container_runtime="none")
        assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        (report,) = report_ids(folder)
        subprocess.run(["scontrol", "hold", report], check=True, capture_output=True)
        try:
            wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "SUCCEEDED", 120, 1)
            shown = inv("status", cwd=tmp_path)
            assert shown.returncode == 0, shown.stderr
            said = f"every job has ended; still running: the report job (Slurm job {report}, "
            assert said + "PENDING" in shown.stdout
            data = json.loads(inv("status", "--json", cwd=tmp_path).stdout)
            assert data["driver"].startswith(f"the report job (Slurm job {report}")
        finally:
            subprocess.run(["scontrol", "release", report], capture_output=True)
        wait_for((folder / "logs" / "report.exit").exists, 60)
    assert "still running" not in inv("status", cwd=tmp_path).stdout
    assert json.loads(inv("status", "--json", cwd=tmp_path).stdout)["driver"] is None


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_kill_mid_run_leaves_no_container_and_resume_completes(
    runtime, tmp_path, inv, slurm_cluster, request
):
    if runtime == "podman":
        request.getfixturevalue("podman_image")
    n = 80
    with FakeEndpoint(delay=0.25, key=by_sample_and_repeat) as ep:
        config = slurm_config(tmp_path, ep.chat_url, tasks=1, n=n, container_runtime=runtime)
        assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        inv_id = folder.name.rsplit("-", 1)[1]
        journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
        wait_for(lambda: journal.exists() and len(journal.read_text().splitlines()) >= 4, 120)
        assert containers_of(runtime, inv_id)
        (first_report,) = report_ids(folder)
        assert queued([first_report])  # waiting for the task (Dependency)
        killed = inv("kill", inv_id, cwd=tmp_path, timeout=120)
        assert killed.returncode == 0, killed.stderr
        assert [j["state"] for j in status_json(inv, tmp_path)] == ["KILLED"]
        assert not containers_of(runtime, inv_id)
        assert not queued([first_report])  # no report job left pending
        # ... and status no longer asks Slurm about it.
        cancelled = (folder / "logs" / "report.exit").read_text().split()[1:]
        assert cancelled == ["cancelled", first_report]
        assert not (folder / "report.html").exists()
        before = len(journal.read_text().splitlines())
        assert before < n
        resumed = inv("resume", "--invocation", inv_id, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        first, second = report_ids(folder)  # the resume's replaces it
        assert first == first_report and second != first
        wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "SUCCEEDED", 180, 1)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(lines) == n == len({line["id"] for line in lines})
    assert len(slurm_ids(folder)) == 2
    assert not containers_of(runtime, inv_id)
    report_exit = folder / "logs" / "report.exit"
    wait_for(lambda: report_exit.read_text().split()[1:] == ["0", second], 60)
    assert (folder / "report.html").is_file()


def test_a_job_at_its_time_limit_is_resubmitted_and_continues_from_its_journal(
    tmp_path, inv, slurm_cluster
):
    # parallelism 1 x 0.9 s x 40 samples: about 40 s of work; with a one-minute limit the
    # warning (--signal=B:USR1@30, limits checked about every 30 s) comes 0-30 s in, so at
    # least two attempts, at most four.
    n = 40
    with FakeEndpoint(delay=0.9, key=by_sample_and_repeat) as ep:
        config = slurm_config(tmp_path, ep.chat_url, tasks=1, n=n, time_limit="1", max_resubmits=3)
        raw = yaml.safe_load(config.read_text())
        raw["evaluation"]["params"]["parallelism"] = 1
        config.write_text(yaml.safe_dump(raw))
        assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        reasons = set()
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            (job,) = status_json(inv, tmp_path)
            reasons.add(job.get("attempt", ""))
            if job["state"] in ("SUCCEEDED", "FAILED", "LOST", "KILLED"):
                break
            time.sleep(2)
        assert job["state"] == "SUCCEEDED", job
        counts = ep.counts()
    journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(lines) == n == len({line["id"] for line in lines})
    tries = (folder / "jsonl" / "logs" / "slurm.jobs").read_text().split("\n")
    attempts = [t for t in tries if t.strip()]
    assert len(attempts) >= 2 and attempts[1].startswith("2 ")
    assert "2/4" in reasons, reasons
    # Only what was in flight at a graceful stop may have been asked twice.
    assert sum(c - 1 for c in counts.values()) <= len(attempts) - 1, counts
    log = (folder / "jsonl" / "logs" / "stdout.log").read_text()
    assert "the time limit is near" in log
    # The report job started when the first attempt ended, found the next one queued and
    # submitted itself again after it: report.html comes after the last attempt.
    report_exit = folder / "logs" / "report.exit"
    wait_for(report_exit.exists, 90)
    reports = report_ids(folder)
    assert len(reports) >= 2 and report_exit.read_text().split()[1:] == ["0", reports[-1]]
    assert (folder / "report.html").stat().st_mtime >= journal.stat().st_mtime


def test_held_failed_and_refused_jobs(tmp_path, inv, slurm_cluster):
    config = write_config(
        tmp_path,
        [
            {"name": "held", "container": BASE_IMAGE, "command": "sleep 1"},
            {"name": "seven", "container": BASE_IMAGE, "command": "echo bye; exit 7"},
        ],
        execution={"type": "slurm", "time_limit": "5"},
    )
    before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    bad = inv("run", "--config", str(config), "-o", "execution.partition=nosuch", cwd=tmp_path)
    assert bad.returncode != 0
    message = bad.stderr.strip()
    assert len(message.splitlines()) == 1 and "invalid partition" in message.lower(), message
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").iterdir())
    after = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    assert after == before

    raw = yaml.safe_load(config.read_text())
    raw["evaluation"]["tasks"][0]["command"] = "sleep 1"
    raw["execution"]["sbatch_args"] = ["--begin=now+3600"]
    config.write_text(yaml.safe_dump(raw))
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    held_id, seven_id = slurm_ids(folder)
    subprocess.run(["scontrol", "hold", held_id], check=True)
    subprocess.run(["scontrol", "update", f"JobId={seven_id}", "StartTime=now"], check=True)
    wait_for(lambda: status_json(inv, tmp_path)[1]["state"] == "FAILED", 120, 1)
    held, seven = status_json(inv, tmp_path)
    assert held["state"] == "PENDING" and "JobHeld" in held["reason"], held
    assert seven["exit_code"] == 7 and "exit code 7" in seven["reason"], seven

    # One `inv status` runs at most one squeue and one sacct, through a recording wrapper.
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    calls = tmp_path / "calls"
    for name in ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo"):
        real = subprocess.run(["which", name], capture_output=True, text=True).stdout.strip()
        (wrappers / name).write_text(f'#!/bin/sh\necho {name} >>{calls}\nexec {real} "$@"\n')
        (wrappers / name).chmod(0o755)
    path = f"{wrappers}:{os.environ['PATH']}"
    result = inv("status", env={"PATH": path}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    made = Counter(calls.read_text().split())
    assert made["squeue"] <= 1 and made["sacct"] <= 1 and made["squeue"] + made["sacct"] >= 1
    assert set(made) <= {"squeue", "sacct"}, made

    killed = inv("kill", folder.name.rsplit("-", 1)[1], cwd=tmp_path, timeout=120)
    assert killed.returncode == 0, killed.stderr
    assert [j["state"] for j in status_json(inv, tmp_path)] == ["KILLED", "FAILED"]


def watch_for_the_key(folder: Path, slurm_id: str, key: str, process: str = "") -> tuple[str, bool]:
    """Until the job's exit marker: the key on no command line (ps), and Slurm's records of
    the job while it runs (scontrol show job, its stored batch script) collected; also
    whether a command line containing ``process`` was seen."""
    records, seen = "", False
    while not (folder / "jsonl" / "logs" / "stage.exit").exists():
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert key not in ps
        seen = seen or bool(process) and process in ps
        shown = subprocess.run(
            ["scontrol", "show", "job", "-dd", slurm_id], capture_output=True, text=True
        ).stdout
        if "JobState=RUNNING" in shown:
            script = subprocess.run(
                ["scontrol", "write", "batch_script", slurm_id, "-"],
                capture_output=True,
                text=True,
            ).stdout
            records += shown + script
        time.sleep(0.2)
    return records, seen


def assert_not_in_slurm_state(key: str, slurm_id: str) -> None:
    """The key is in neither slurmctld's own copy of the job (script and environment
    files) nor the accounting record (sacct)."""
    state = subprocess.run(
        ["grep", "-rl", key, "/var/lib/slurm/slurmctld"], capture_output=True, text=True
    )
    assert state.stdout == "", state.stdout
    job = subprocess.run(
        ["sacct", "-j", slurm_id, "-n", "-P", "-o", "JobID,JobName,WorkDir,SubmitLine"],
        capture_output=True,
        text=True,
    ).stdout
    assert key not in job


def test_the_key_never_reaches_the_script_slurm_records_or_a_command_line(
    tmp_path, inv, slurm_cluster
):
    key = "sk-sentinel-" + secrets.token_hex(16)
    (tmp_path / ".env").write_text(f"PROCTOR_SECRET_KEY={key}\n")
    with FakeEndpoint(delay=0.3, record=True) as ep:
        config = slurm_config(tmp_path, ep.chat_url, tasks=1, n=12)
        raw = yaml.safe_load(config.read_text())
        raw["target"]["api_endpoint"]["api_key_name"] = "PROCTOR_SECRET_KEY"
        config.write_text(yaml.safe_dump(raw))
        env = {"PROCTOR_SECRET_KEY": key}  # exported too: it must still not travel
        result = inv("run", "--config", str(config), cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        folder = invocation_dir(tmp_path)
        (slurm_id,) = slurm_ids(folder)
        records, _ = watch_for_the_key(folder, slurm_id, key)
        assert "JobState=RUNNING" in records and "proctor job" in records
        assert_not_in_slurm_state(key, slurm_id)
        assert key not in records
        assert any(
            (headers or "") == f"Bearer {key}" for _path, _body, headers in ep.requests
        ), "the key never reached the endpoint"
    assert (folder / "jsonl" / "logs" / "stage.exit").read_text().split()[1] == "0"
    assert key not in all_text_under(folder)
    assert key not in result.stdout + result.stderr


def test_a_secret_only_in_the_environment_is_refused(tmp_path, inv, slurm_cluster):
    with FakeEndpoint() as ep:
        config = slurm_config(tmp_path, ep.chat_url, tasks=1)
        raw = yaml.safe_load(config.read_text())
        raw["target"]["api_endpoint"]["api_key_name"] = "ONLY_EXPORTED_KEY"
        config.write_text(yaml.safe_dump(raw))
        result = inv("run", "--config", str(config), cwd=tmp_path, env={"ONLY_EXPORTED_KEY": "x"})
    assert result.returncode != 0
    assert "ONLY_EXPORTED_KEY must be in the env file" in result.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").iterdir())


# deployment.type docker under Slurm: each job serves the model itself, in its own
# allocation. The "model" is the deterministic fake endpoint, run from this checkout in the
# harness image (it has aiohttp).
SERVER = (
    "cd /src && exec python3 -m tests.fakes.endpoint --host 0.0.0.0 --port 8000 --delay {delay}"
)


def served_config(
    tmp_path: Path, runtime: str, tasks: int = 2, n: int = 8, delay: float = 0.0, **deployment
) -> Path:
    data = write_questions(tmp_path / "data", n)
    return write_config(
        tmp_path,
        [{"name": "jsonl", "dataset_dir": str(data)} for _ in range(tasks)],
        target={"api_endpoint": {"model_id": "m"}},
        deployment={
            "type": "docker",
            "image": HARNESS_LATEST,
            "container_port": 8000,
            "command": SERVER.format(delay=delay),
            "mounts": [f"{ROOT}:/src:ro"],
            "startup_timeout": 60,
            **deployment,
        },
        evaluation={"params": {"parallelism": 2}},
        execution={"type": "slurm", "time_limit": "10", "container_runtime": runtime},
    )


def marker_time(path: Path) -> str:
    return path.read_text().split()[0]


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_two_jobs_each_serve_their_model_at_once_and_stop_it(
    runtime, tmp_path, inv, slurm_cluster, request
):
    if runtime == "podman":
        request.getfixturevalue("podman_image")
    config = served_config(tmp_path, runtime, n=12, delay=0.5)
    result = inv("run", "--config", str(config), "--wait", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    assert [j["state"] for j in status_json(inv, tmp_path)] == ["SUCCEEDED", "SUCCEEDED"]
    assert metrics(folder) == {t: {"accuracy": 1.0} for t in ("jsonl.1", "jsonl.2")}
    assert not (folder / "deploy.sh").exists()
    ports, windows = [], []
    for task in ("jsonl.1", "jsonl.2"):
        logs = folder / task / "deployment" / "logs"
        port = (logs / "port").read_text().strip()
        ports.append(port)
        windows.append((marker_time(logs / "stage.running"), marker_time(logs / "stage.exit")))
        log = (folder / task / "logs" / "stdout.log").read_text()
        assert f"http://127.0.0.1:{port}/v1/models" in log and "deployment: healthy" in log, log
        assert f"endpoint=http://127.0.0.1:{port}/v1/chat/completions" in log, log
        assert "listening on http://127.0.0.1:8000/v1" in (logs / "stdout.log").read_text()
        task_file = yaml.safe_load((folder / task / "deployment" / "task.yaml").read_text())
        assert task_file["endpoint"]["url"] == f"http://127.0.0.1:{port}/v1/chat/completions"
    assert ports[0] != ports[1]
    # Both servers were up at the same time (each job's own, in its own allocation).
    assert max(start for start, _ in windows) <= min(end for _, end in windows), windows
    assert not containers_of(runtime, inv_id)


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_kill_mid_run_leaves_no_server_and_resume_serves_again(
    runtime, tmp_path, inv, slurm_cluster, request
):
    if runtime == "podman":
        request.getfixturevalue("podman_image")
    n = 60
    config = served_config(tmp_path, runtime, tasks=1, n=n, delay=0.3)
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
    wait_for(lambda: journal.exists() and len(journal.read_text().splitlines()) >= 4, 120)
    running = containers_of(runtime, inv_id)
    assert len(running) == 2, running  # the task and its server
    killed = inv("kill", inv_id, cwd=tmp_path, timeout=120)
    assert killed.returncode == 0, killed.stderr
    assert [j["state"] for j in status_json(inv, tmp_path)] == ["KILLED"]
    assert not containers_of(runtime, inv_id)
    assert "deployment: stopping" in (folder / "jsonl" / "logs" / "stdout.log").read_text()
    before = len(journal.read_text().splitlines())
    assert before < n
    resumed = inv("resume", "--invocation", inv_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "SUCCEEDED", 180, 1)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(lines) == n == len({line["id"] for line in lines})
    wait_for(lambda: not containers_of(runtime, inv_id), 30)


def test_the_key_never_reaches_slurm_or_a_command_line_with_a_deployment(
    tmp_path, inv, slurm_cluster
):
    key = "sk-sentinel-" + secrets.token_hex(16)
    (tmp_path / ".env").write_text(f"PROCTOR_SECRET_KEY={key}\n")
    # The server gets the key by name too, and says only how long it is.
    command = 'echo "server key has ${#SERVER_KEY} characters"; ' + SERVER.format(delay=0.3)
    config = served_config(
        tmp_path,
        "docker",
        tasks=1,
        n=16,
        command=command,
        env_vars={"SERVER_KEY": "PROCTOR_SECRET_KEY"},
    )
    raw = yaml.safe_load(config.read_text())
    raw["target"]["api_endpoint"]["api_key_name"] = "PROCTOR_SECRET_KEY"
    config.write_text(yaml.safe_dump(raw))
    result = inv("run", "--config", str(config), cwd=tmp_path, env={"PROCTOR_SECRET_KEY": key})
    assert result.returncode == 0, result.stderr
    folder = invocation_dir(tmp_path)
    (slurm_id,) = slurm_ids(folder)
    records, seen_server = watch_for_the_key(folder, slurm_id, key, "tests.fakes.endpoint")
    assert seen_server and "JobState=RUNNING" in records
    assert_not_in_slurm_state(key, slurm_id)
    assert key not in records
    assert (folder / "jsonl" / "logs" / "stage.exit").read_text().split()[1] == "0"
    server_log = (folder / "jsonl" / "deployment" / "logs" / "stdout.log").read_text()
    assert f"server key has {len(key)} characters" in server_log
    for script in ("run.sbatch", "deploy.sh"):
        assert key not in (folder / "jsonl" / script).read_text()
    assert key not in all_text_under(folder)


def test_logs_follow_streams_a_slurm_job_and_returns_when_it_ends(tmp_path, inv, slurm_cluster):
    import sys
    import threading

    ticks = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done"
    config = write_config(
        tmp_path,
        [{"name": "ticker", "container": BASE_IMAGE, "command": ticks}],
        execution={"type": "slurm", "time_limit": "5"},
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    exit_marker = folder / "ticker" / "logs" / "stage.exit"
    errors = tmp_path / "follow.err"
    seen: list[tuple[str, bool]] = []  # each line, and whether the job had ended by then
    with (
        errors.open("w") as err,
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "-r", str(ROOT), "logs", "--follow"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as follower,
    ):

        def read() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                seen.append((line.rstrip("\n"), exit_marker.exists()))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            wait_for(exit_marker.exists, 120)
            ended = time.monotonic()
            follower.wait(timeout=30)  # returns by itself once the job has ended
            returned_after = time.monotonic() - ended
        finally:
            if follower.poll() is None:
                follower.kill()
            reader.join(timeout=10)
    assert follower.returncode == 0, errors.read_text()
    lines = [line for line, _ in seen]
    assert [line for line in lines if "| tick " in line] == [
        f"ticker | tick {i}" for i in range(1, 7)
    ], lines
    # Followed while it ran: the first ticks arrived before the job had ended.
    assert any(not ended_then for line, ended_then in seen if "| tick 1" in line), seen
    assert any("(ticker) exited with 0" in line for line in lines), lines
    assert returned_after < 10, returned_after


def node_name() -> str:
    out = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def set_node(node: str, state: str) -> None:
    # resume fails ("Invalid node state") when the node came back by itself
    # (ReturnToService=2): harmless.
    args = ["scontrol", "update", f"nodename={node}", f"state={state}"]
    subprocess.run([*args, "reason=proctor-test"] if state == "down" else args, check=False)


def node_ready(node: str) -> bool:
    out = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True)
    return out.stdout.strip() in ("idle", "mixed", "allocated")


def journaled(journal: Path) -> set[str]:
    return {json.loads(line)["response"] for line in journal.read_text().splitlines()}


def test_node_failure_requeues_once_then_stops_and_resume_completes(tmp_path, inv, slurm_cluster):
    n = 40
    node = node_name()
    with FakeEndpoint(delay=0.5) as ep:  # counted by prompt: "question i", once per sample
        config = slurm_config(tmp_path, ep.chat_url, tasks=1, n=n, max_resubmits=1)
        raw = yaml.safe_load(config.read_text())
        raw["evaluation"]["params"]["parallelism"] = 1
        config.write_text(yaml.safe_dump(raw))
        assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
        folder = invocation_dir(tmp_path)
        logs = folder / "jsonl" / "logs"
        journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
        (slurm_id,) = slurm_ids(folder)

        def lines() -> int:
            return len(journal.read_text().splitlines()) if journal.exists() else 0

        def fail_node() -> tuple[set[str], dict[str, int]]:
            """The node fails under the running job: what was journaled and asked by then."""
            set_node(node, "down")
            wait_for(lambda: (logs / "stage.exit").exists(), 60)
            return journaled(journal), ep.counts()

        try:
            wait_for(lambda: lines() >= 5, 120)
            first, asked_first = fail_node()
            # Slurm requeues it (same job id) with a begin time about two minutes ahead:
            # bring the node back and let it start now.
            wait_for(lambda: queued([slurm_id]), 30)
            (job,) = status_json(inv, tmp_path)
            assert job["state"] == "PENDING" and "requeue by Slurm" in job["reason"], job
            assert job["attempt"] == "2/2", job
            set_node(node, "resume")
            wait_for(lambda: node_ready(node), 60)
            subprocess.run(["scontrol", "update", f"JobId={slurm_id}", "StartTime=now"], check=True)
            wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "RUNNING", 60, 0.5)
            assert status_json(inv, tmp_path)[0]["attempt"] == "2/2"
            wait_for(lambda: lines() >= len(first) + 3, 60)
            second, asked_second = fail_node()
            assert len(second) < n
            # The last attempt is not requeued: it ends NODE_FAIL and stays ended.
            wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "FAILED", 60, 1)
            time.sleep(3)
            assert not queued([slurm_id])
            (job,) = status_json(inv, tmp_path)
            assert job["state"] == "FAILED" and "NODE_FAIL" in job["reason"], job
            assert job["attempt"] == "2/2", job
        finally:
            set_node(node, "resume")
            wait_for(lambda: node_ready(node), 60)
        log = (logs / "stdout.log").read_text()
        assert "attempt 2/2" in log and "attempts-exhausted" not in log

        resumed = inv("resume", "--invocation", folder.name.rsplit("-", 1)[1], cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: status_json(inv, tmp_path)[0]["state"] == "SUCCEEDED", 180, 1)
        counts = ep.counts()
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(records) == n == len({r["id"] for r in records})
    # No journaled sample was asked again, after either failure.
    for done, asked in ((first, asked_first), (second, asked_second)):
        again = {p: counts[p] - asked[p] for p in done if counts[p] != asked[p]}
        assert not again, again
    assert first < second
