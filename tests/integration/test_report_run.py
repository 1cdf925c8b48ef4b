"""Reports of real runs: `inv run --wait`, report.html from run_all.sh, `inv compare`.

The harness image runs the jsonl benchmark against a fake endpoint in this process that
answers "question i" with itself (right) or with "no idea" (wrong), as each test decides.
"""

from __future__ import annotations

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests import chromium
from tests.conftest import run_inv
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.integration.helpers import BASE_IMAGE, write_config, write_questions

pytestmark = pytest.mark.docker

SAMPLES = 12


def right_when(rule):
    def answer(body) -> str:
        key = prompt_key(body)
        return key if rule(int(key.rsplit(" ", 1)[1])) else "no idea"

    return answer


def config(tmp_path, url: str, **params):
    data = write_questions(tmp_path / "data", SAMPLES)
    return write_config(
        tmp_path,
        [{"name": "jsonl", "dataset_dir": str(data)}],
        target={"api_endpoint": {"url": url, "model_id": "fake-model"}},
        evaluation={"params": {"parallelism": 4, "max_retries": 0, **params}},
        execution={"image": HARNESS_LATEST},
    )


def run_wait(tmp_path, url: str, *overrides: str):
    args = [arg for o in overrides for arg in ("-o", o)]
    return run_inv(
        "run", "--config", str(config(tmp_path, url)), *args, "--wait", cwd=tmp_path, timeout=300
    )


def newest(tmp_path):
    return sorted((tmp_path / "outputs").glob("2*"))[-1]


def test_run_wait_prints_the_report_and_compare_pairs_two_real_runs(tmp_path):
    with FakeEndpoint(answer=right_when(lambda i: i < 4)) as ep:
        first = run_wait(tmp_path, ep.chat_url)
    assert first.returncode == 0, first.stdout + first.stderr
    folder_a = newest(tmp_path)
    # The live status, then the final status and the report table, then the page.
    assert "SUCCEEDED" in first.stdout
    table = first.stdout[first.stdout.index("95% CI") - 60 :]
    row = next(line for line in table.splitlines() if line.startswith("jsonl"))
    assert row.split()[:3] == ["jsonl", "accuracy", "0.333"], row
    assert f"report: {folder_a / 'report.html'}" in first.stdout
    # run_all.sh wrote the page and printed the table into its log.
    assert "95% CI" in (folder_a / "run_all.log").read_text()
    page = chromium.load(folder_a / "report.html")
    assert page.console == []
    rows = [e for e in chromium.elements(page.dom) if e.tag == "tr" and "sample" in e.classes]
    assert len(rows) == SAMPLES
    assert sorted(e.attrs["data-kind"] for e in rows) == ["right"] * 4 + ["wrong"] * 8

    with FakeEndpoint(answer=right_when(lambda i: i < 11)) as ep:
        second = run_wait(tmp_path, ep.chat_url, "evaluation.params.temperature=0.5")
    assert second.returncode == 0, second.stdout + second.stderr
    folder_b = newest(tmp_path)
    id_a, id_b = folder_a.name[-8:], folder_b.name[-8:]

    both = run_inv("report", id_a, "--id", id_b, cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    line = next(x for x in both.stdout.splitlines() if x.startswith("jsonl"))
    assert "0.333 [" in line and "0.917 [" in line

    compared = run_inv("compare", id_a, id_b, cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    line = next(x for x in compared.stdout.splitlines() if x.startswith("jsonl"))
    # 7 samples right only in B, none only in A: exact McNemar p = 2 / 2^7 = 0.0156.
    assert line.split()[:6] == ["jsonl", "accuracy", "12", "0.333", "0.917", "+0.583"]
    assert line.split()[-2:] == ["0.0156", "*"]
    assert "jsonl: temperature: 0.0 vs 0.5" in compared.stdout


def test_run_wait_exits_non_zero_when_a_job_fails(tmp_path):
    cfg = write_config(tmp_path, [{"name": "failer", "container": BASE_IMAGE, "command": "exit 7"}])
    result = run_inv("run", "--config", str(cfg), "--wait", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "failer: no results (FAILED: exit code 7" in result.stdout
    assert result.stderr.strip().endswith("succeeded (see above)")
    assert (newest(tmp_path) / "report.html").is_file()
