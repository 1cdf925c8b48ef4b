"""The quickstart against a real model: llama.cpp serving SmolLM2-135M-Instruct in Docker."""

from __future__ import annotations

import json

import pytest
import yaml

from proctor.launcher.images import SERVER_LATEST
from tests.conftest import ROOT
from tests.integration.helpers import free_port, proctor_containers, wait_for

pytestmark = pytest.mark.docker

LIMIT = 4


def test_quickstart_evaluates_the_real_model(tmp_path, inv):
    result = inv(
        "run",
        "--config",
        str(ROOT / "configs" / "quickstart.yaml"),
        "-o",
        f"evaluation.params.limit_samples={LIMIT}",
        "-o",
        f"deployment.port={free_port()}",
        "-o",
        f"deployment.image={SERVER_LATEST}",
        "-o",
        f"execution.output_dir={tmp_path / 'outputs'}",
        "--wait",  # as make quickstart does: returns when run_all.sh has ended
        cwd=tmp_path,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "outputs").iterdir()
    record = yaml.safe_load((folder / "invocation.yaml").read_text())
    tasks = [job["task"] for job in record["jobs"]]
    assert tasks == ["gsm8k", "mmlu", "arc_challenge", "jsonl"]
    # The report table ends the output, one row per task, and report.html is written.
    report = result.stdout[result.stdout.rindex("95% CI") :].splitlines()
    assert [line.split()[0] for line in report[2:6]] == tasks
    assert report[-1] == f"report: {folder / 'report.html'}"

    for task in tasks:
        exit_fields = (folder / task / "logs" / "stage.exit").read_text().split()
        assert exit_fields[1] == "0", (task, (folder / task / "logs" / "stdout.log").read_text())
        results = json.loads((folder / task / "artifacts" / "results.json").read_text())
        assert results["counts"] == {"total": LIMIT, "scored": LIMIT, "errors": 0}
        for metric in results["metrics"].values():
            assert 0 <= metric["value"] <= 1 and metric["n"] == LIMIT
            assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
        lines = [
            json.loads(line)
            for line in (folder / task / "artifacts" / "samples.jsonl").read_text().splitlines()
        ]
        assert len(lines) == LIMIT
        for line in lines:
            assert line["status"] == "scored" and line["response"].strip()
            assert line["usage"]["completion_tokens"] > 0
    # The server log shows real generations, and everything is stopped at the end.
    assert (
        "POST /v1/chat/completions" in (folder / "deployment" / "logs" / "stdout.log").read_text()
    )
    inv_id = record["id"]
    wait_for(
        lambda: not [
            c
            for c in proctor_containers(**{"proctor.invocation": inv_id})
            if c["State"] == "running"
        ],
        timeout=60,
    )


LL_LIMIT = 6


def test_olmes_arc_easy_rc_by_loglikelihood_on_the_real_model(tmp_path, inv):
    """configs/olmes.yaml on a seeded subset: the endpoint check passes, every choice scored."""
    result = inv(
        "run",
        "--config",
        str(ROOT / "configs" / "olmes.yaml"),
        "-o",
        f"evaluation.params.limit_samples={LL_LIMIT}",
        "-o",
        f"deployment.port={free_port()}",
        "-o",
        f"deployment.image={SERVER_LATEST}",
        "-o",
        f"execution.output_dir={tmp_path / 'outputs'}",
        "--wait",
        cwd=tmp_path,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "outputs").iterdir()
    task = folder / "arc_easy_olmes"
    log = (task / "logs" / "stdout.log").read_text()
    assert "log-likelihood check passed: ' Paris'" in log, log
    results = json.loads((task / "artifacts" / "results.json").read_text())
    assert results["counts"] == {"total": LL_LIMIT, "scored": LL_LIMIT, "errors": 0}
    assert set(results["metrics"]) == {"acc", "acc_norm"}
    lines = [json.loads(x) for x in (task / "artifacts" / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == LL_LIMIT
    for line in lines:
        record = line["loglikelihood"]
        assert len(record["choices"]) >= 3 and line["scores"]["acc"] in (0.0, 1.0)
        lls = [c["loglikelihood"] for c in record["choices"]]
        assert all(
            ll < 0 and c["tokens"] >= 1 for ll, c in zip(lls, record["choices"], strict=False)
        )
        assert record["chosen"] == lls.index(max(lls))
        assert line["prompt"].count("\nAnswer:") == 6  # 5-shot: five examples, the question
    server_log = (folder / "deployment" / "logs" / "stdout.log").read_text()
    assert "POST /v1/completions" in server_log
