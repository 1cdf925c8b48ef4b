"""inv logs: tagged lines, partial lines held back, --follow ends when the jobs end."""

from __future__ import annotations

import io

import pytest

from proctor.launcher.jobs import logs
from proctor.launcher.jobs.invocations import Invocation, JobRef, Selection
from proctor.launcher.jobs.status import JobRow, JobStatus, Observation, Snapshot


@pytest.fixture
def selection(tmp_path):
    jobs = tuple(
        JobRef(id=f"0123abcd.{i}", index=i, task=task, folder=tmp_path / task)
        for i, task in enumerate(["gsm8k", "a"])
    )
    for job in jobs:
        job.logs.mkdir(parents=True)
    inv = Invocation(
        id="0123abcd",
        folder=tmp_path,
        created=None,  # type: ignore[arg-type]
        jobs=jobs,
        mode="parallel",
        max_parallel=4,
        deployment=False,
        config_path="",
    )
    return Selection(inv, jobs, whole=True)


def test_partial_lines_wait_for_their_end(tmp_path):
    path = tmp_path / "stdout.log"
    source = logs.Source("t", path)
    assert source.read_lines() == []  # not written yet
    path.write_bytes(b"one\ntw")
    assert source.read_lines() == ["one"]
    with open(path, "ab") as f:
        f.write(b"o\r\nthr\xff")
    assert source.read_lines() == ["two"]
    assert source.read_lines(final=True) == ["thr\ufffd"]
    assert source.read_lines(final=True) == []


def test_whole_logs_job_after_job_with_aligned_tags(selection):
    gsm8k, a = selection.jobs
    (gsm8k.logs / "stdout.log").write_text("first\nsecond\n")
    (a.logs / "stdout.log").write_text("only, no newline")
    out = io.StringIO()
    logs.show(selection, out=out)
    assert out.getvalue() == "gsm8k | first\ngsm8k | second\na     | only, no newline\n"
    out = io.StringIO()
    logs.show(selection, ["a"], out=out)
    assert out.getvalue() == "a | only, no newline\n"


def test_follow_prints_as_the_logs_grow_and_ends_when_every_job_has_ended(selection, monkeypatch):
    monkeypatch.setattr(logs, "STATUS_EVERY_S", 0.0)
    gsm8k, a = selection.jobs
    (gsm8k.logs / "stdout.log").write_text("early\n")
    calls = []

    def snapshot(invocations, *, jobs, pool):
        calls.append(len(calls))
        states = ["RUNNING", "PENDING"] if len(calls) == 1 else ["SUCCEEDED", "FAILED"]
        if len(calls) == 1:
            with open(gsm8k.logs / "stdout.log", "a") as f:
                f.write("late\nunfinished")
            (a.logs / "stdout.log").write_text("a starts\n")
        rows = [
            JobRow(job, Observation(), JobStatus(state))  # type: ignore[arg-type]
            for job, state in zip(jobs, states, strict=True)
        ]
        return Snapshot({selection.invocation.id: rows})

    out = io.StringIO()
    logs.show(selection, follow=True, out=out, snapshot=snapshot, poll_s=0.01)
    lines = out.getvalue().splitlines()
    assert lines[0] == "gsm8k | early"
    assert sorted(lines[1:]) == ["a     | a starts", "gsm8k | late", "gsm8k | unfinished"]
    assert len(calls) == 2


def test_follow_stops_waiting_for_a_job_whose_driver_is_gone(selection, monkeypatch):
    monkeypatch.setattr(logs, "STATUS_EVERY_S", 0.0)

    def snapshot(invocations, *, jobs, pool):
        rows = [JobRow(job, Observation(queued=False), JobStatus("PENDING")) for job in jobs]
        return Snapshot({selection.invocation.id: rows})

    out = io.StringIO()
    logs.show(selection, follow=True, out=out, snapshot=snapshot, poll_s=0.01)
    assert out.getvalue() == ""
