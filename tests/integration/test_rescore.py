"""inv rescore on a real run: the harness image runs jsonl against a fake endpoint; a scoring
option changed afterwards flips samples without a single new request."""

from __future__ import annotations

import json

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import run_inv
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.integration.helpers import (
    invocation_dir,
    wait_for,
    wait_for_drivers,
    write_config,
    write_questions,
)

pytestmark = pytest.mark.docker

SAMPLES = 8


def in_a_sentence(body) -> str:
    """Right for even questions; odd ones get the answer inside a sentence."""
    key = prompt_key(body)
    return key if int(key.rsplit(" ", 1)[1]) % 2 == 0 else f"I think it is {key}."


def test_rescore_a_real_run_after_changing_its_scorer(tmp_path):
    data = write_questions(tmp_path / "data", SAMPLES)
    task = {
        "name": "jsonl",
        "dataset_dir": str(data),
        "params": {"extra": {"scorer": "exact_match"}},
    }
    with FakeEndpoint(answer=in_a_sentence) as ep:
        config = write_config(
            tmp_path,
            [task],
            target={"api_endpoint": {"url": ep.chat_url, "model_id": "fake-model"}},
            evaluation={"params": {"parallelism": 4, "max_retries": 0}},
            execution={"image": HARNESS_LATEST},
        )
        ran = run_inv("run", "--config", str(config), "--wait", cwd=tmp_path, timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ep.total == SAMPLES
        folder = invocation_dir(tmp_path)
        inv_id = folder.name[-8:]
        artifacts = folder / "jsonl" / "artifacts"
        before = json.loads((artifacts / "results.json").read_text())
        assert before["metrics"]["accuracy"]["value"] == 0.5

        dry = run_inv(
            "rescore", inv_id, "--dry-run", "-o", "params.extra.scorer=contains", cwd=tmp_path
        )
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing written" in dry.stdout
        assert json.loads((artifacts / "results.json").read_text()) == before

        done = run_inv(
            "rescore", inv_id, "--task", "jsonl", "-o", "params.extra.scorer=contains", cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert ep.total == SAMPLES  # no request was sent
        # task.yaml and the journal agree on the new config hash: a resume in the container
        # accepts the journal and has nothing left to send.
        resumed = run_inv("resume", "--invocation", inv_id, "--task", "jsonl", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: (folder / "jsonl" / "logs" / "stage.exit").exists(), timeout=120)
        assert (folder / "jsonl" / "logs" / "stage.exit").read_text().split()[1] == "0"
        wait_for_drivers(folder)
        assert ep.total == SAMPLES
    out = done.stdout
    assert "jsonl: re-scored 8 samples, 4 changed score" in out
    assert "accuracy                 0.5000 -> 1.0000  *" in out
    assert "flipped: 4 to right, 0 to wrong" in out
    for line_number in (2, 4, 6, 8):  # the sample ids of questions 1, 3, 5, 7
        assert f"    {line_number} (repeat 0) accuracy 0.0000 -> 1.0000" in out
    (kept,) = artifacts.glob("before-rescore-*")
    assert f"previous results kept in {kept.relative_to(tmp_path)}" in out
    assert json.loads((kept / "results.json").read_text()) == before
    after = json.loads((artifacts / "results.json").read_text())
    assert after["metrics"]["accuracy"]["value"] == 1.0
    # inv report shows the new numbers, report.html was rewritten with them.
    report = run_inv("report", inv_id, cwd=tmp_path)
    row = next(x for x in report.stdout.splitlines() if x.startswith("jsonl"))
    assert row.split()[:3] == ["jsonl", "accuracy", "1.000"], row
    assert "1.000" in (folder / "report.html").read_text()

    refused = run_inv("rescore", inv_id, "-o", "params.seed=1", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "proctor: rescore -o 'params.seed=1': only params.extra.* options may change (others "
        "decide which samples exist or what was asked: start a new run instead)"
    ]
