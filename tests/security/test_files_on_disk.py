"""Files on disk are data, not instructions (issue 12, class 8).

invocation.yaml's job and task names are checked before they become paths; journal
lines and results.json with NaN, Infinity, wrong types or deep nesting are skipped and
counted by every reader (the harness's resume, inv report, inv compare, report.html),
and report.html built from such a journal still opens in Chromium with its browser full.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml

from proctor.harness.journal import Journal
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import invocations
from proctor.launcher.results import compare, htmlreport, report
from tests import chromium
from tests.fakes.invocation import make_invocation, sample

BAD_LINES = [
    '{"id": "n1", "repeat": 0, "status": "scored", "scores": {"accuracy": NaN}}',
    '{"id": "n2", "repeat": 0, "status": "scored", "scores": {"accuracy": 1}, "latency_s": Infinity}',
    '{"id": "n3", "repeat": 0, "status": "scored", "scores": {"accuracy": -Infinity}}',
    '{"id": "n4", "repeat": "0", "status": "scored", "scores": {}}',
    '{"id": "n5", "repeat": true, "status": "scored", "scores": {}}',
    '{"id": ["n6"], "repeat": 0, "status": "scored", "scores": {}}',
    '{"id": "n7", "repeat": 0, "status": "scored", "scores": ["accuracy", 1]}',
    '{"id": "n8", "repeat": 0, "status": "scored", "scores": {"accuracy": "1"}}',
    '{"id": "n9", "repeat": 0, "status": "scored", "scores": {}, "usage": [1, 2]}',
    '{"id": "n10", "repeat": 0, "status": "won", "scores": {}}',
    '{"id": "n11", "repeat": 0, "status": "scored", "usage": {"prompt_tokens": NaN}}',
    "[" * 3000 + "]" * 3000,
    '{"id": "n13", "repeat": 0, "status": "scored", "scores": ' + "[" * 3000 + "]" * 3000 + "}",
    "null",
    '"just a string"',
]


def hostile_journal(tmp_path):
    good = [sample(f"g{i}", float(i % 2)) for i in range(4)]
    folder = make_invocation(tmp_path / "outputs", "aaaa1111", {"gsm8k": good})
    journal = folder / "gsm8k" / "artifacts" / "samples.jsonl"
    text = journal.read_text()
    journal.write_text(text + "".join(line + "\n" for line in BAD_LINES))
    return folder, journal


def test_the_harness_resume_drops_and_counts_bad_lines(tmp_path):
    folder, path = hostile_journal(tmp_path)
    journal = Journal(path, "0" * 16)
    journal.close()
    assert (journal.kept, journal.discarded) == (4, len(BAD_LINES))
    assert all(math.isfinite(v) for v in journal.tally.latencies)


def test_report_compare_and_html_skip_and_count_bad_lines(tmp_path):
    folder, _ = hostile_journal(tmp_path)
    make_invocation(
        tmp_path / "outputs", "bbbb2222", {"gsm8k": [sample(f"g{i}", 1.0) for i in range(4)]}
    )
    (folder / "gsm8k" / "artifacts" / "results.json").write_text(
        '{"metrics": {"accuracy": {"value": NaN, "n": Infinity}}, "counts": {"scored": NaN}}'
    )
    reports = report.load(tmp_path / "outputs", ["aaaa"])
    assert report.render(reports, "markdown")  # no crash on the NaN results
    assert "results.json skipped" in report.render(reports, "table")  # and the reader says so
    both = report.load(tmp_path / "outputs", ["aaaa", "bbbb"])
    comparison = compare.compare(*both)
    (task,) = comparison.tasks
    assert task.shared == 4
    assert any(
        f"{len(BAD_LINES)} unreadable journal lines skipped in A" in d for d in task.differences
    )
    html = htmlreport.render(reports)
    assert f"{len(BAD_LINES)} unreadable journal lines skipped" in html
    assert "NaN" not in html and "Infinity" not in html


@pytest.mark.parametrize("bad", ['"NaN"', "null", "[1]", '{"x": 1}', '""'])
def test_report_counts_metrics_it_skips(tmp_path, bad):
    folder, _ = hostile_journal(tmp_path)
    (folder / "gsm8k" / "artifacts" / "results.json").write_text(
        '{"status": "ok", "counts": {"total": 4, "scored": 4, "errors": 0}, '
        '"metrics": {"accuracy": {"value": 0.5, "n": 4}, "bad": {"value": ' + bad + "}}}"
    )
    (r,) = report.load(tmp_path / "outputs", ["aaaa"])
    (task,) = r.tasks
    assert list(task.metrics) == ["accuracy"]
    assert "1 metric(s) skipped in results.json" in report.render([r], "table")


def test_report_html_from_a_hostile_journal_opens_in_chromium(tmp_path):
    folder, _ = hostile_journal(tmp_path)
    path = htmlreport.write(report.load(tmp_path / "outputs", ["aaaa"]), folder / "report.html")
    page = chromium.load(path)
    assert page.console == []
    rows = [e for e in chromium.elements(page.dom) if e.tag == "tr" and "data-kind" in e.attrs]
    assert len(rows) == 4  # the good lines are all browsable; JSON.parse did not fail


def test_embedded_json_never_holds_nan():
    text = htmlreport._finite_dumps({"a": [math.nan, math.inf, 1.5], "b": -math.inf})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": [None, None, 1.5],
        "b": None,
    }


@pytest.mark.parametrize(
    ("task", "job_id"),
    [
        ("../../etc", "aaaa1111.0"),
        ("gsm8k/../../x", "aaaa1111.0"),
        ("/etc", "aaaa1111.0"),
        ("gsm8k\n", "aaaa1111.0"),
        ("gsm8k", "../x"),
        ("deployment", "aaaa1111.0"),
    ],
)
def test_invocation_names_are_checked_before_use_as_paths(tmp_path, inv, task, job_id):
    folder = make_invocation(tmp_path / "outputs", "aaaa1111", {"gsm8k": [sample("g", 1.0)]})
    record_path = folder / "invocation.yaml"
    record = yaml.safe_load(record_path.read_text())
    record["jobs"][0].update(task=task, id=job_id)
    record_path.write_text(yaml.safe_dump(record))
    with pytest.raises(ProctorError, match="edited by hand"):
        invocations.load(folder)
    for command in (["logs"], ["status"], ["report"], ["resume"], ["kill", "aaaa"]):
        result = inv(*command, "--outputs", str(tmp_path / "outputs"), cwd=tmp_path)
        assert result.returncode != 0, (command, result.stdout)
        assert "Traceback" not in result.stderr, result.stderr
        assert "edited by hand" in result.stderr, (command, result.stderr)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("content", [b"id: \xff\xfe\n", b"[" * 5000])
def test_an_unreadable_invocation_yaml_is_one_line(tmp_path, content):
    folder = make_invocation(tmp_path / "outputs", "aaaa1111", {"gsm8k": [sample("g", 1.0)]})
    (folder / "invocation.yaml").write_bytes(content)
    with pytest.raises(ProctorError):
        invocations.load(folder)


@pytest.mark.parametrize("content", [b"name: \xff\n", b"[" * 5000, b"a: &a [1]\nb: *a\n"])
def test_an_unreadable_task_yaml_is_exit_2(tmp_path, content):
    import subprocess
    import sys

    task = tmp_path / "task.yaml"
    task.write_bytes(content)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "proctor.harness",
            "--task-file",
            str(task),
            "--results",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "bad task file" in result.stderr
