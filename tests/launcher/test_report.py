"""`inv report` on invocation folders written directly (no Docker): every format."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from proctor.launcher.errors import ProctorError
from proctor.launcher.results import report
from tests.conftest import run_inv
from tests.fakes.invocation import make_invocation, sample


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "outputs"
    # 3 of 4 right and 1 error; a second task with two metrics.
    make_invocation(
        out,
        "aaaa1111",
        {
            "gsm8k": [sample("q1", 1.0), sample("q2", 1.0), sample("q3", 0.0), sample("q4", 1.0)]
            + [sample("q5", None)],
            "qa": [sample("x", 0.5, metric="f1"), sample("y", 1.0, metric="f1")],
        },
        model_id="model-a",
    )
    make_invocation(
        out,
        "bbbb2222",
        {"gsm8k": [sample(f"q{i}", 0.0) for i in range(1, 5)]},
        model_id="model-b",
        stamp="20260102-030406",
    )
    return out


def test_single_invocation_table(outputs):
    (r,) = report.load(outputs, ["aaaa"])
    text = report.render([r], "table")
    lines = text.splitlines()
    assert lines[0].startswith("invocation aaaa1111: model-a,")
    header = next(line for line in lines if line.startswith("task"))
    for column in ["task", "metric", "value", "95% CI", "n", "errors", "tokens", "time"]:
        assert column in header
    gsm8k = next(line for line in lines if line.startswith("gsm8k"))
    # 3 of 4 scored: Wilson (0.3006, 0.9544); one error; 4 x 17 tokens; 30 s.
    assert gsm8k.split() == [
        "gsm8k",
        "accuracy",
        "0.750",
        "[0.301,",
        "0.954]",
        "4",
        "1",
        "68",
        "30s",
    ]
    qa = next(line for line in lines if line.startswith("qa"))
    assert qa.split()[:3] == ["qa", "f1", "0.750"]


def test_latest_is_the_default(outputs):
    (r,) = report.load(outputs, [])
    assert r.id == "bbbb2222"


def test_several_invocations_side_by_side(outputs):
    reports = report.load(outputs, ["aaaa", "bbbb"])
    text = report.render(reports, "table")
    header = next(line for line in text.splitlines() if line.startswith("task "))
    assert header.split()[2:] == ["model-a", "(aaaa1111)", "model-b", "(bbbb2222)"]
    gsm8k = next(line for line in text.splitlines() if line.startswith("gsm8k"))
    assert "0.750 [0.301, 0.954] n=4 err=1" in gsm8k
    assert "0.000 [0.000, 0.490] n=4" in gsm8k
    qa = next(line for line in text.splitlines() if line.startswith("qa"))
    assert "(not run)" in qa


def test_markdown_is_a_pipe_table(outputs):
    text = report.render(report.load(outputs, ["aaaa"]), "markdown")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0].replace(" ", "") == "|task|metric|value|95%CI|n|errors|tokens|time|"
    assert set(rows[1].replace("|", "").strip()) <= {"-", " "}
    assert len(rows) == 2 + 2  # header, rule, gsm8k, qa


def test_json_carries_every_number(outputs):
    data = json.loads(report.render(report.load(outputs, ["aaaa", "bbbb"]), "json"))
    assert data["schema_version"] == 1
    assert [i["id"] for i in data["invocations"]] == ["aaaa1111", "bbbb2222"]
    gsm8k = data["invocations"][0]["tasks"][0]
    assert gsm8k["task"] == "gsm8k" and gsm8k["state"] == "SUCCEEDED"
    assert gsm8k["counts"] == {"total": 5, "scored": 4, "errors": 1}
    accuracy = gsm8k["metrics"]["accuracy"]
    assert accuracy["value"] == 0.75 and accuracy["n"] == 4
    assert accuracy["ci_low"] == pytest.approx(0.30064, abs=1e-4)
    assert gsm8k["usage"]["total_tokens"] == 68 and gsm8k["wall_s"] == 30.0


def test_csv_is_long_format(outputs):
    text = report.render(report.load(outputs, ["aaaa", "bbbb"]), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["invocation"], r["task"], r["metric"]) for r in rows] == [
        ("aaaa1111", "gsm8k", "accuracy"),
        ("aaaa1111", "qa", "f1"),
        ("bbbb2222", "gsm8k", "accuracy"),
    ]
    assert rows[0]["value"] == "0.75" and rows[0]["errors"] == "1" and rows[0]["n"] == "4"


def test_a_task_without_results_says_why(outputs):
    folder = next(outputs.glob("*-aaaa1111"))
    (folder / "qa" / "artifacts" / "results.json").unlink()
    (folder / "qa" / "logs" / "stage.exit").write_text("2026-01-02T03:04:36Z 7\n")
    text = report.render(report.load(outputs, ["aaaa"]), "table")
    assert "qa: no results (FAILED: exit code 7)" in text
    shutil.rmtree(folder / "qa" / "logs")
    (folder / "qa" / "logs").mkdir()
    assert "qa: no results (PENDING" in report.render(report.load(outputs, ["aaaa"]), "table")


def test_a_results_file_that_is_not_one_is_named(outputs):
    folder = next(outputs.glob("*-aaaa1111"))
    (folder / "qa" / "artifacts" / "results.json").write_text('{"status": "ok", "metrics": {}}')
    text = report.render(report.load(outputs, ["aaaa"]), "table")
    assert "qa: results.json skipped: not a well-formed results file" in text


def test_unknown_format_and_unknown_id_are_named(outputs):
    with pytest.raises(ProctorError, match="unknown --format 'xml': choose one of table"):
        report.render(report.load(outputs, ["aaaa"]), "xml")
    with pytest.raises(ProctorError, match="no invocation 'cccc'"):
        report.load(outputs, ["cccc"])


def test_inv_report_command(outputs):
    cwd = outputs.parent
    result = run_inv("report", "aaaa,bbbb", "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["invocations"]) == 2
    result = run_inv("report", "aaaa", "--id", "bbbb", cwd=cwd)
    assert result.returncode == 0 and "model-b (bbbb2222)" in result.stdout
    result = run_inv("report", "--html", cwd=cwd)
    assert result.returncode == 0, result.stderr
    page = next(outputs.glob("*-bbbb2222")) / "report.html"
    assert f"report: {page.relative_to(cwd)}" in result.stdout and page.is_file()
    result = run_inv("report", "aaaa", "--id", "bbbb", "--html", cwd=cwd)
    assert (outputs / "report-aaaa1111-bbbb2222.html").is_file()

    for args, message in [
        (["nope"], "proctor: no invocation 'nope'"),
        (["--format", "yaml"], "proctor: unknown --format 'yaml'"),
        (["--outputs", "missing"], "proctor: no invocations: missing does not exist"),
    ]:
        result = run_inv("report", *args, cwd=cwd)
        assert result.returncode == 2, args
        assert result.stderr.strip().startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
