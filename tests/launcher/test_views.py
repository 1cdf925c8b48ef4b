"""What inv status / ls / logs / kill print for invocation folders written here (no run)."""

from __future__ import annotations

import json

import pytest
import yaml

from proctor.launcher.jobs import views

STAMP = "20260102-030405"


def make_invocation(outputs, inv_id, jobs, stamp=STAMP, execution=None):
    """An invocation folder with one job per (task, kind): the files each state leaves."""
    folder = outputs / f"{stamp}-{inv_id}"
    folder.mkdir(parents=True)
    record = {
        "schema_version": 1,
        "id": inv_id,
        "created": "2026-01-02T03:04:05+00:00",
        "deployment": None,
        "jobs": [{"id": f"{inv_id}.{i}", "index": i, "task": t} for i, t in enumerate(jobs)],
        "config": {"execution": execution or {"mode": "parallel", "max_parallel": 4}},
    }
    (folder / "invocation.yaml").write_text(yaml.safe_dump(record))
    for task, kind in jobs.items():
        logs, artifacts = folder / task / "logs", folder / task / "artifacts"
        logs.mkdir(parents=True)
        artifacts.mkdir()
        if kind == "pending":
            continue
        (logs / "stage.pre-start").write_text("2026-01-02T03:04:05Z\n")
        (logs / "stage.running").write_text("2026-01-02T03:04:07Z\n")
        (logs / "script.pid").write_text(f"{2**22 + 3} {2**22 + 3}\n")  # no such process
        (logs / "stdout.log").write_text(f"[proctor] job {task} starting\nworking on {task}\n")
        progress = {"schema_version": 1, "done": 7, "failed": 1, "total": 10, "rate_per_s": 2.5}
        (artifacts / "progress.json").write_text(json.dumps({**progress, "eta_s": 1.2}))
        exits = {"succeeded": "0", "failed": "137", "oom": "137 oom-killed", "killed": "143"}
        if kind in exits:
            (logs / "stage.exit").write_text(f"2026-01-02T03:05:10Z {exits[kind]}\n")
        if kind == "killed":
            (logs / "stage.killed").write_text("2026-01-02T03:05:00Z inv kill\n")
    return folder


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "outputs"
    make_invocation(out, "aa11aa11", {"a": "succeeded"}, stamp="20260101-000000")
    make_invocation(out, "aa22aa22", {"a": "succeeded", "b": "succeeded"}, stamp="20260101-000001")
    make_invocation(
        out,
        "0123abcd",
        {
            "gsm8k": "succeeded",
            "mmlu": "failed",
            "arc": "oom",
            "jsonl": "lost",
            "jsonl.2": "killed",
            "late": "pending",
        },
    )
    return out


def test_status_table_states_reasons_and_what_to_do(outputs):
    text, ended = views.status_view(outputs, None)
    assert ended
    assert "invocation 0123abcd" in text
    assert "1 PENDING, 1 SUCCEEDED, 2 FAILED, 1 KILLED, 1 LOST" in text
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("0123abcd.")}
    assert "SUCCEEDED" in lines["gsm8k"] and "7/10 (70%)" in lines["gsm8k"]
    assert "killed by SIGKILL (exit 137)" in lines["mmlu"]
    assert "OOM-killed (exit 137)" in lines["arc"]
    assert "LOST" in lines["jsonl"] and "run inv resume" in lines["jsonl"]
    assert "killed by inv kill (exit 143)" in lines["jsonl.2"]
    assert "PENDING" in lines["late"]
    assert "1m05s" in lines["gsm8k"]  # 03:04:05 to 03:05:10
    assert "inv resume --invocation 0123abcd" in text


def test_the_header_says_where_the_invocation_runs(outputs):
    text, _ended = views.status_view(outputs, "0123abcd")
    assert "\nparallel, created 2026-01-02 03:04:05 UTC" in text
    slurm = {"type": "slurm", "partition": "debug", "container_runtime": "none"}
    make_invocation(outputs, "5151abcd", {"a": "succeeded"}, execution=slurm)
    text, _ended = views.status_view(outputs, "5151")  # settled by its markers: no Slurm call
    assert "\nSlurm (partition debug, runtime none), created" in text
    data = json.loads(views.status_view(outputs, "5151", as_json=True)[0])
    assert (data["executor"], data["placement"]) == (
        "slurm",
        "Slurm (partition debug, runtime none)",
    )


def test_status_json_of_one_job(outputs):
    text, ended = views.status_view(outputs, "0123/mmlu", as_json=True)
    data = json.loads(text)
    assert ended and data["invocation"] == "0123abcd"
    (job,) = data["jobs"]
    assert job["job"] == "0123abcd.1" and job["state"] == "FAILED" and job["exit_code"] == 137
    assert job["progress"] == {
        "done": 7,
        "failed": 1,
        "total": 10,
        "rate_per_s": 2.5,
        "eta_s": 1.2,
    }


def test_ls_newest_first_with_counts_and_broken_folders(outputs):
    (outputs / "20260101-000002-bad0bad0").mkdir()
    text = views.list_view(outputs)
    rows = [line.split()[0] for line in text.splitlines()[2:] if line.strip()]
    assert rows[:3] == ["0123abcd", "aa22aa22", "aa11aa11"]
    assert "2 SUCCEEDED" in text and "unreadable" in text
    data = json.loads(views.list_view(outputs, as_json=True))
    assert [i["invocation"] for i in data["invocations"]] == ["0123abcd", "aa22aa22", "aa11aa11"]
    assert data["invocations"][1]["counts"] == {"SUCCEEDED": 2}
    assert list(data["unreadable"]) == ["20260101-000002-bad0bad0"]


def test_cli_status_without_an_id_is_the_latest(outputs, inv):
    result = inv("status", "--outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    assert "invocation 0123abcd" in result.stdout
    by_prefix = inv("status", "aa22", "--json", "--outputs", str(outputs))
    assert json.loads(by_prefix.stdout)["counts"] == {"SUCCEEDED": 2}


def test_cli_ambiguous_id_is_one_line_listing_the_candidates(outputs, inv):
    result = inv("status", "aa", "--outputs", str(outputs))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "ambiguous" in result.stderr
    assert "20260101-000000-aa11aa11" in result.stderr
    assert "20260101-000001-aa22aa22" in result.stderr


def test_cli_logs_and_follow_of_a_finished_invocation_return(outputs, inv):
    result = inv("logs", "0123abcd", "--task", "gsm8k", "--task", "mmlu", "--outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "gsm8k | [proctor] job gsm8k starting",
        "gsm8k | working on gsm8k",
        "mmlu  | [proctor] job mmlu starting",
        "mmlu  | working on mmlu",
    ]
    follow = inv("logs", "--follow", "--outputs", str(outputs), timeout=30)
    assert follow.returncode == 0, follow.stderr
    assert "jsonl.2 | working on jsonl.2" in follow.stdout


def test_cli_kill_of_ended_jobs_is_harmless(outputs, inv):
    result = inv("kill", "0123abcd.0", "--outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0123abcd.0 (gsm8k): already ended (SUCCEEDED)"
    assert not (outputs / f"{STAMP}-0123abcd" / "gsm8k" / "logs" / "stage.killed").exists()


def test_cli_missing_outputs(tmp_path, inv):
    result = inv("ls", "--outputs", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "inv run" in result.stderr


def test_what_still_runs_after_every_job_has_ended_is_named(outputs):
    """A Slurm report job still queued, or a local run_all.sh still writing report.html,
    is named under the table once every job has ended (and in --json); with no driver,
    nothing is said."""
    import dataclasses

    from proctor.launcher.jobs import invocations, status

    inv = invocations.resolve(outputs, "aa22").invocation
    snap = status.snapshot([inv])
    rows = snap.of(inv)
    driver = "the report job (Slurm job 42, PENDING)"
    driven = dataclasses.replace(snap, drivers={inv.id: driver})
    assert f"every job has ended; still running: {driver}" in views.status_table(inv, rows, driven)
    assert "still running" not in views.status_table(inv, rows, snap)
    assert json.loads(views.status_json(inv, rows, driven))["driver"] == driver
    assert json.loads(views.status_json(inv, rows, snap))["driver"] is None
