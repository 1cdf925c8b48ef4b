"""The runner end to end, in this process, against a real HTTP server; subsets; bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.harness.benchmarks import register
from proctor.harness.benchmarks.base import Sample
from proctor.harness.runner import plan, run_task, select_subset
from proctor.harness.taskfile import TaskSpec
from tests.fakes.benchmark import BENCHMARK, answer
from tests.fakes.endpoint import FakeEndpoint, Fault

ROOT = Path(__file__).resolve().parents[2]
register(BENCHMARK)


def make_spec(url: str, name: str = "arith", **params: Any) -> TaskSpec:
    params = {"parallelism": 4, "max_retries": 1, "extra": {"n": 30}, **params}
    return TaskSpec.model_validate(
        {
            "name": "t",
            "benchmark": name,
            "endpoint": {"url": url, "model_id": "m"},
            "params": params,
        }
    )


def journal(results: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (results / "samples.jsonl").read_text().splitlines()]


SAMPLES = [Sample(id=f"s{i}", prompt=f"p{i}", target=i) for i in range(100)]


def test_subset_is_seeded_and_keeps_the_original_order() -> None:
    picked = select_subset(SAMPLES, 10, seed=1)
    assert len(picked) == 10
    assert picked == select_subset(SAMPLES, 10, seed=1)
    assert picked != select_subset(SAMPLES, 10, seed=2)
    assert [s.target for s in picked] == sorted(s.target for s in picked)
    assert select_subset(SAMPLES, 0.25, seed=1) == select_subset(SAMPLES, 25, seed=1)
    assert len(select_subset(SAMPLES, 0.001, seed=1)) == 1
    assert select_subset(SAMPLES, 1000, seed=1) == SAMPLES
    assert select_subset(SAMPLES, None, seed=1) == SAMPLES


def test_plan_goes_repeat_by_repeat() -> None:
    work = plan(SAMPLES[:2], 2)
    assert [(s.id, r) for s, r in work] == [("s0", 0), ("s1", 0), ("s0", 1), ("s1", 1)]


def test_a_run_journals_scores_and_reports(tmp_path: Path, capsys: Any) -> None:
    with FakeEndpoint(answer, delay=0.01, record=True) as ep:
        code = run_task(make_spec(ep.base_url, n_repeats=2, seed=5), tmp_path)
    assert code == 0
    lines = journal(tmp_path)
    assert len(lines) == 60 == ep.total
    assert {(line["id"], line["repeat"]) for line in lines} == {
        (f"q{i}", r) for i in range(30) for r in range(2)
    }
    assert {body["seed"] for _, body, _ in ep.requests} == {5, 6}  # one seed per repeat
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results) == [
        "schema_version",
        "task",
        "benchmark",
        "model_id",
        "config_hash",
        "harness_version",
        "status",
        "max_error_rate",
        "metrics",
        "counts",
        "usage",
        "latency_s",
        "timing",
    ]
    assert results["status"] == "ok"
    assert results["config_hash"] == make_spec(ep.base_url, n_repeats=2, seed=5).config_hash()
    assert results["counts"] == {"total": 60, "scored": 60, "errors": 0}
    assert results["metrics"]["exact_match"]["value"] == pytest.approx(2 / 3)
    assert results["metrics"]["exact_match"]["n"] == 60
    assert results["usage"]["prompt_tokens"] == 60 * 5
    assert 0.01 <= results["latency_s"]["p50"] < 1
    assert yaml.safe_load((tmp_path / "results.yml").read_text()) == results
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert (progress["done"], progress["failed"], progress["total"]) == (60, 0, 60)
    out = capsys.readouterr().out
    assert "start task=t" in out and "metric exact_match = 0.6667" in out


def test_limit_samples_sends_only_the_subset(tmp_path: Path) -> None:
    with FakeEndpoint(answer) as ep:
        assert run_task(make_spec(ep.base_url, limit_samples=7), tmp_path) == 0
    assert ep.total == 7
    ids = [line["id"] for line in journal(tmp_path)]
    expected = [s.id for s in select_subset(BENCHMARK.load(make_spec("").params, None), 7, 1234)]
    assert sorted(ids) == sorted(expected)


def test_errors_are_journaled_not_scored_and_retried_on_resume(tmp_path: Path) -> None:
    def broken_for_q4(key: str, nth: int, body: Any) -> Fault | None:
        return Fault(500) if key == "What is 4 plus 4?" else None

    with FakeEndpoint(answer, faults=broken_for_q4) as ep:
        assert run_task(make_spec(ep.base_url, max_error_rate=0.1), tmp_path) == 0
    (bad,) = (line for line in journal(tmp_path) if line["status"] == "error")
    assert bad["id"] == "q4" and bad["scores"] == {} and bad["attempts"] == 2
    assert bad["error"].startswith("http_500: ")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"] == {"total": 30, "scored": 29, "errors": 1}
    assert results["metrics"]["exact_match"]["n"] == 29

    with FakeEndpoint(answer) as ep:  # the server recovered
        assert run_task(make_spec(ep.base_url, max_error_rate=0.1), tmp_path) == 0
    assert ep.total == 1 and ep.count("What is 4 plus 4?") == 1
    assert [line["status"] for line in journal(tmp_path)] == ["scored"] * 30


def test_too_many_errors_exit_3_after_writing_results(tmp_path: Path) -> None:
    def broken_for_a_third(key: str, nth: int, body: Any) -> Fault | None:
        return Fault(503) if int(key.split()[2]) % 3 == 1 else None

    with FakeEndpoint(answer, faults=broken_for_a_third) as ep:
        code = run_task(make_spec(ep.base_url, max_retries=0, parallelism=1), tmp_path)
    assert code == 3
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "error_rate_exceeded"
    # The budget (5% of 30) is spent at the second error: nothing more is sent.
    assert results["counts"]["errors"] == 2
    assert ep.total == results["counts"]["scored"] + 2 < 30


def test_a_fatal_401_everywhere_stops_early(tmp_path: Path) -> None:
    with FakeEndpoint(answer, faults=lambda *_: Fault(401)) as ep:
        assert run_task(make_spec(ep.base_url, parallelism=2), tmp_path) == 3
    assert ep.total <= 2 * 2 + 2  # two errors spend the budget; workers in flight finish


def test_unknown_benchmark_is_bad_input(tmp_path: Path, capsys: Any) -> None:
    assert run_task(make_spec("http://127.0.0.1:9/v1", name="nope"), tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown benchmark 'nope'" in err
    assert not (tmp_path / "samples.jsonl").exists()


def test_missing_api_key_is_bad_input_and_sends_nothing(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.delenv("PROCTOR_TEST_KEY", raising=False)
    with FakeEndpoint(answer) as ep:
        spec = make_spec(ep.base_url)
        spec = spec.model_copy(
            update={
                "endpoint": spec.endpoint.model_copy(update={"api_key_name": "PROCTOR_TEST_KEY"})
            }
        )
        assert run_task(spec, tmp_path) == 2
    assert ep.total == 0
    assert "PROCTOR_TEST_KEY" in capsys.readouterr().err


def test_a_key_is_sent_but_never_printed(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PROCTOR_TEST_KEY", "sk-very-secret")
    with FakeEndpoint(answer, record=True) as ep:
        spec = make_spec(ep.base_url, limit_samples=2)
        spec = spec.model_copy(
            update={
                "endpoint": spec.endpoint.model_copy(update={"api_key_name": "PROCTOR_TEST_KEY"})
            }
        )
        assert run_task(spec, tmp_path) == 0
    assert {auth for _, _, auth in ep.requests} == {"Bearer sk-very-secret"}
    captured = capsys.readouterr()
    assert "sk-very-secret" not in captured.out + captured.err
    assert not any("sk-very-secret" in p.read_text() for p in tmp_path.iterdir())


def test_resume_under_another_config_is_refused(tmp_path: Path, capsys: Any) -> None:
    with FakeEndpoint(answer) as ep:
        assert run_task(make_spec(ep.base_url, limit_samples=3), tmp_path) == 0
        before = (tmp_path / "samples.jsonl").read_bytes()
        assert run_task(make_spec(ep.base_url, limit_samples=3, temperature=0.7), tmp_path) == 2
        assert ep.total == 3
    assert "start a new invocation instead" in capsys.readouterr().err
    assert (tmp_path / "samples.jsonl").read_bytes() == before


def test_operational_params_may_change_on_resume(tmp_path: Path) -> None:
    with FakeEndpoint(answer) as ep:
        assert run_task(make_spec(ep.base_url, limit_samples=3), tmp_path) == 0
        assert run_task(make_spec(ep.base_url, limit_samples=3, parallelism=16), tmp_path) == 0
    assert ep.total == 3


# -- the command line, in a subprocess ------------------------------------------------


def harness(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.benchmark", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def write_task(tmp_path: Path, spec: TaskSpec) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(spec.to_yaml())
    return path


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "file not found"),
        ("name: [", "bad task file"),
        ("name: t\nbenchmark: arith\n", "endpoint"),
        (
            "name: t\nbenchmark: arith\nendpoint: {url: u, model_id: m}\nparams: {parallelism: 0}\n",
            "params.parallelism",
        ),
    ],
)
def test_a_bad_task_file_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    task = tmp_path / "task.yaml"
    if content is not None:
        task.write_text(content)
    proc = subprocess.run(
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
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert fragment in proc.stderr


def test_sigterm_stops_cleanly_with_143(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with FakeEndpoint(answer, delay=0.3) as ep:
        task = write_task(tmp_path, make_spec(ep.base_url, parallelism=2))
        proc = harness("--task-file", str(task), "--results", str(results))
        deadline = time.monotonic() + 30
        while ep.total < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        sent = ep.total
    assert proc.returncode == 143, err
    assert "SIGTERM received" in out and "resume to continue" in out
    assert not (results / "results.json").exists()
    lines = journal(results)
    assert 1 <= len(lines) <= sent < 30  # in-flight requests finished and were journaled
    progress = json.loads((results / "progress.json").read_text())
    assert progress["done"] == len(lines)
    assert not [p for p in results.iterdir() if p.name.endswith(".tmp")]
