"""MT-Bench end to end against a real model: SmolLM2-135M on llama.cpp answers and judges.

Its verdicts are poor, so the test checks what does not depend on them: both turns are
answered with the first reply in the second request, both judge requests are sent, every
sample ends scored (ratings in 1-10) or errored with its cause, and results.json agrees
with the journals.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.helpers import free_port

pytestmark = pytest.mark.docker

LIMIT = 3


def test_mtbench_on_a_real_model_is_answered_judged_and_accounted(tmp_path, inv):
    port = free_port()
    result = inv(
        "run",
        "--config",
        str(ROOT / "configs" / "judged.yaml"),
        "-o",
        f"evaluation.params.limit_samples={LIMIT}",
        "-o",
        "evaluation.params.max_tokens=48",
        "-o",
        "evaluation.judge.params.max_tokens=48",
        "-o",
        f"deployment.port={port}",
        "-o",
        f"evaluation.judge.url=http://127.0.0.1:{port}/v1",
        "-o",
        f"execution.output_dir={tmp_path / 'outputs'}",
        "--wait",
        cwd=tmp_path,
        timeout=1200,
    )
    (folder,) = (tmp_path / "outputs").iterdir()
    task = folder / "mtbench"
    log = (task / "logs" / "stdout.log").read_text()
    assert result.returncode == 0, result.stdout + result.stderr + log
    artifacts = task / "artifacts"
    answers = [json.loads(x) for x in (artifacts / "answers.jsonl").read_text().splitlines()]
    lines = [json.loads(x) for x in (artifacts / "samples.jsonl").read_text().splitlines()]
    results = json.loads((artifacts / "results.json").read_text())

    assert len(answers) == LIMIT and len(lines) == LIMIT
    for answer in answers:
        assert len(answer["answers"]) == 2  # both turns answered
        assert [m["role"] for m in answer["prompt"]] == ["user", "assistant", "user"]
        assert answer["prompt"][1]["content"] == answer["answers"][0]
    scored = [x for x in lines if x["status"] == "scored"]
    errored = [x for x in lines if x["status"] == "error"]
    assert len(scored) + len(errored) == LIMIT
    for line in lines:
        judgement = line["judgement"]  # every sample got as far as the judge
        assert judgement["model_id"] == "smollm2-135m-instruct"
        assert len(judgement["replies"]) == 2
        assert all(isinstance(r, str) for r in judgement["replies"])
    for line in scored:
        assert set(line["scores"]) >= {"score", "turn_1", "turn_2"}
        assert all(1 <= line["scores"][k] <= 10 for k in ("turn_1", "turn_2"))
    for line in errored:
        assert line["error"].startswith("judge: ") and line["scores"] == {}
    assert results["counts"] == {"total": LIMIT, "scored": len(scored), "errors": len(errored)}
    if scored:
        assert results["metrics"]["score"]["n"] == len(scored)
    else:
        assert results["metrics"] == {}
    server_log = (folder / "deployment" / "logs" / "stdout.log").read_text()
    assert server_log.count("POST /v1/chat/completions") >= 4 * LIMIT  # 2 answers + 2 verdicts
    record = yaml.safe_load((folder / "invocation.yaml").read_text())
    assert record["config"]["evaluation"]["judge"]["model_id"] == "smollm2-135m-instruct"
