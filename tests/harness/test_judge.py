"""Judged samples against a deterministic test judge: exact scores, errors, both stages resumed.

Two real HTTP servers on 127.0.0.1: the target (answers "@ans:<n>", n predictable from the
question) and the judge (grades by a rule of tests.fakes.judge). Request counts on each
prove which stage a resume re-sends.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from proctor.harness.benchmarks import register
from proctor.harness.benchmarks.base import Message, Sample, Score
from proctor.harness.judge import ANSWERS_FILENAME
from proctor.harness.runner import run_task
from proctor.harness.taskfile import Params, TaskSpec
from tests.fakes import judge as fj
from tests.fakes.endpoint import FakeEndpoint, Fault

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [f"Question number {i}{'?' * (i % 7)}" for i in range(12)]
TEMPLATE = "Rate the answer from 1 to 10 as [[N]].\nQ: {input}\nA: {response}\nRef: {target}"


def write_data(folder: Path) -> Path:
    rows = [{"id": f"j{i}", "input": q, "target": "x"} for i, q in enumerate(QUESTIONS)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def jsonl_spec(target: str, judge: str, data: Path, **extra: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "judged",
            "benchmark": "jsonl",
            "endpoint": {"url": target, "model_id": "target-model"},
            "params": {
                "parallelism": 4,
                "max_retries": 1,
                "max_error_rate": 1.0,
                "extra": {"scorer": "judge", "judge_template": TEMPLATE, "id_field": "id", **extra},
            },
            "dataset_dir": str(data),
            "judge": {
                "url": judge,
                "model_id": "judge-model",
                "params": {"max_retries": 0, "parallelism": 2},
            },
        }
    )


def lines(results: Path, name: str = "samples.jsonl") -> list[dict[str, Any]]:
    return [json.loads(x) for x in (results / name).read_text().splitlines()]


def metrics(results: Path) -> dict[str, Any]:
    return json.loads((results / "results.json").read_text())


def test_jsonl_judge_scores_exactly_by_the_rule(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    with (
        FakeEndpoint(fj.answer) as target,
        FakeEndpoint(fj.rate, key=fj.judge_key, record=True) as judge,
    ):
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), tmp_path / "r") == 0
    expected = [fj.expected_answer(q) for q in QUESTIONS]
    results = metrics(tmp_path / "r")
    assert results["counts"] == {"total": 12, "scored": 12, "errors": 0}
    assert results["metrics"]["judge_score"]["value"] == pytest.approx(sum(expected) / 12)
    assert target.total == 12 and judge.total == 12
    # The judge saw the user's rubric, filled in, under its own model id.
    _, body, _ = judge.requests[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert body["max_tokens"] == 1024
    assert body["messages"][0]["content"].startswith("Rate the answer from 1 to 10")
    assert "Ref: x" in body["messages"][0]["content"]
    by_id = {line["id"]: line for line in lines(tmp_path / "r")}
    assert by_id["j3"]["scores"] == {"judge_score": float(expected[3])}
    assert by_id["j3"]["judgement"]["replies"] == [f"The answer is fine. Rating: [[{expected[3]}]]"]
    assert by_id["j3"]["judgement"]["model_id"] == "judge-model"
    assert by_id["j3"]["response"] == f"@ans:{expected[3]}"


def test_zero_one_scale_refuses_a_rating_outside_it(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")

    def zero_or_one(body: dict[str, Any]) -> str:  # 0/1 by parity; ten is off the scale
        n = int(fj.rate(body).split("[[")[1].split("]]")[0])
        return "[[10]]" if n == 10 else f"[[{n % 2}]]"

    with FakeEndpoint(fj.answer) as target, FakeEndpoint(zero_or_one) as judge:
        spec = jsonl_spec(target.base_url, judge.base_url, data, judge_scale="0-1")
        assert run_task(spec, tmp_path / "r") == 0
    expected = [fj.expected_answer(q) for q in QUESTIONS]
    ok = [n % 2 for n in expected if n != 10]
    results = metrics(tmp_path / "r")
    assert results["counts"]["errors"] == expected.count(10)
    assert results["metrics"]["judge_score"]["value"] == pytest.approx(sum(ok) / len(ok))
    bad = [line for line in lines(tmp_path / "r") if line["status"] == "error"]
    assert all("unparseable verdict" in line["error"] and "got 10" in line["error"] for line in bad)


def test_unparseable_verdicts_are_errors_and_a_resume_rejudges_only_them(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    garbled = {"j2", "j5", "j7"}

    def sometimes_garbage(body: dict[str, Any]) -> str:
        content = body["messages"][0]["content"]
        hit = any(f"Q: {QUESTIONS[int(i[1:])]}\n" in content for i in garbled)
        return fj.garbage(body) if hit else fj.rate(body)

    results = tmp_path / "r"
    with FakeEndpoint(fj.answer) as target, FakeEndpoint(sometimes_garbage) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert metrics(results)["counts"] == {"total": 12, "scored": 9, "errors": 3}
    assert metrics(results)["metrics"]["judge_score"]["n"] == 9  # never a 0 for garbage
    errors = {line["id"]: line for line in lines(results) if line["status"] == "error"}
    assert set(errors) == garbled
    assert all(e["error"].startswith("judge: unparseable verdict") for e in errors.values())
    assert errors["j2"]["judgement"]["replies"] == ["I cannot decide."]
    assert errors["j2"]["response"].startswith("@ans:")  # the answer is kept with the error

    with FakeEndpoint(fj.answer) as target, FakeEndpoint(fj.rate) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert target.total == 0  # every answer was journaled: none is asked for again
    assert judge.total == 3
    assert metrics(results)["counts"] == {"total": 12, "scored": 12, "errors": 0}
    expected = [fj.expected_answer(q) for q in QUESTIONS]
    assert metrics(results)["metrics"]["judge_score"]["value"] == pytest.approx(sum(expected) / 12)


def test_a_judge_outage_costs_only_judge_requests_on_resume(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    results = tmp_path / "r"
    down = lambda key, nth, body: Fault(503)  # noqa: E731
    with FakeEndpoint(fj.answer) as target, FakeEndpoint(fj.rate, faults=down) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert target.total == 12 and judge.total == 12  # max_retries 0
    assert metrics(results)["counts"]["errors"] == 12
    assert all(line["error"].startswith("judge: http_503") for line in lines(results))
    assert len(lines(results, ANSWERS_FILENAME)) == 12

    with FakeEndpoint(fj.answer) as target, FakeEndpoint(fj.rate) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert (target.total, judge.total) == (0, 12)
    assert metrics(results)["counts"] == {"total": 12, "scored": 12, "errors": 0}


def test_a_target_error_is_retried_whole_on_resume(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    results = tmp_path / "r"
    broken = lambda key, nth, body: Fault(500) if key == QUESTIONS[4] else None  # noqa: E731
    with FakeEndpoint(fj.answer, faults=broken) as target, FakeEndpoint(fj.rate) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert judge.total == 11
    (bad,) = (line for line in lines(results) if line["status"] == "error")
    assert bad["id"] == "j4" and bad["error"].startswith("http_500") and "judgement" not in bad
    with FakeEndpoint(fj.answer) as target, FakeEndpoint(fj.rate) as judge:
        assert run_task(jsonl_spec(target.base_url, judge.base_url, data), results) == 0
    assert (target.total, judge.total) == (1, 1)


def test_a_judged_task_without_a_judge_is_refused_before_sending(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    with FakeEndpoint(fj.answer) as target:
        spec = jsonl_spec(target.base_url, "http://127.0.0.1:9/v1", data)
        spec = spec.model_copy(update={"judge": None})
        assert run_task(spec, tmp_path / "r") == 2
    assert target.total == 0 and not (tmp_path / "r" / "samples.jsonl").exists()


def test_the_judge_key_travels_by_name(tmp_path: Path, monkeypatch: Any) -> None:
    data = write_data(tmp_path / "data")
    with FakeEndpoint(fj.answer) as target, FakeEndpoint(fj.rate, record=True) as judge:
        raw = jsonl_spec(target.base_url, judge.base_url, data).model_dump()
        raw["judge"]["api_key_name"] = "JUDGE_TEST_KEY"
        spec = TaskSpec.model_validate(raw)
        monkeypatch.delenv("JUDGE_TEST_KEY", raising=False)
        assert run_task(spec, tmp_path / "r0") == 2  # unset: refused, nothing sent
        assert target.total == 0
        monkeypatch.setenv("JUDGE_TEST_KEY", "sk-judge-sentinel")
        assert run_task(spec, tmp_path / "r") == 0
    assert {auth for _, _, auth in judge.requests} == {"Bearer sk-judge-sentinel"}
    assert "sk-judge-sentinel" not in (tmp_path / "r" / "samples.jsonl").read_text()
    assert "sk-judge-sentinel" not in (tmp_path / "r" / ANSWERS_FILENAME).read_text()


# -- multi-turn ------------------------------------------------------------------------


class TwoTurns:
    """A judged two-turn benchmark: the second turn's judge sees both answers."""

    name = "two_turns"
    endpoint_types = ("chat",)
    default_max_tokens = 64
    default_judge_max_tokens = 32

    def needs_judge(self, params: Params) -> bool:
        return True

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(
                id=f"t{i}",
                prompt=[{"role": "user", "content": f"First {'x' * i}"}],
                target=None,
                followups=(f"Second {'y' * (2 * i)}",),
            )
            for i in range(int(params.extra.get("n", 6)))
        ]

    def score(self, sample: Sample, response: str) -> Score:
        raise AssertionError("a judged benchmark is never scored directly")

    def judge_requests(self, sample: Sample, answers: Any) -> list[list[Message]]:
        return [
            [{"role": "user", "content": f"Grade {answers[0]}"}],
            [{"role": "user", "content": f"Grade {answers[0]} then {answers[1]}"}],
        ]

    def verdict(self, sample: Sample, answers: Any, replies: Any) -> Score:
        from proctor.harness.benchmarks.verdicts import rating

        one, two = (rating(r, 1, 10) for r in replies)
        return Score(extracted=[one, two], scores={"turn_1": one, "turn_2": two})


register(TwoTurns())


def two_turn_spec(target: str, judge: str, n: int = 6) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "mt",
            "benchmark": "two_turns",
            "endpoint": {"url": target, "model_id": "m"},
            "params": {"parallelism": 2, "max_retries": 0, "extra": {"n": n}},
            "judge": {"url": judge, "model_id": "j", "params": {"parallelism": 2}},
        }
    )


def test_each_turn_is_sent_with_the_models_own_earlier_reply(tmp_path: Path) -> None:
    with (
        FakeEndpoint(fj.answer, record=True) as target,
        FakeEndpoint(fj.rate, key=fj.judge_key) as judge,
    ):
        assert run_task(two_turn_spec(target.base_url, judge.base_url), tmp_path) == 0
    assert target.total == 12 and judge.total == 12
    second = [b for _, b, _ in target.requests if len(b["messages"]) == 3]
    assert len(second) == 6
    for body in second:
        first_q, reply, second_q = body["messages"]
        assert first_q["role"] == "user" and second_q["role"] == "user"
        assert reply == {
            "role": "assistant",
            "content": f"@ans:{fj.expected_answer(first_q['content'])}",
        }
    results = metrics(tmp_path)
    turn2 = [fj.expected_answer(f"Second {'y' * (2 * i)}") for i in range(6)]
    assert results["metrics"]["turn_2"]["value"] == pytest.approx(sum(turn2) / 6)
    (line,) = (x for x in lines(tmp_path) if x["id"] == "t1")
    assert [m["role"] for m in line["prompt"]] == ["user", "assistant", "user"]
    assert (line["usage"]["completion_tokens"], line["attempts"]) == (2, 2)  # both turns
    (answers,) = (x for x in lines(tmp_path, ANSWERS_FILENAME) if x["id"] == "t1")
    assert answers["answers"] == [f"@ans:{fj.expected_answer('First x')}", line["response"]]


def test_sigkill_while_judging_then_resume_sends_only_missing_judgements(tmp_path: Path) -> None:
    """The judge is slow, so answers pile up in answers.jsonl; kill, resume, count."""
    n = 20
    with (
        FakeEndpoint(fj.answer, record=True) as target,
        FakeEndpoint(fj.rate, key=fj.judge_key, delay=0.4) as judge,
    ):
        spec = two_turn_spec(target.base_url, judge.base_url, n)
        task = tmp_path / "task.yaml"
        task.write_text(spec.to_yaml())
        results = tmp_path / "r"
        script = (
            "import sys; from tests.harness.test_judge import TwoTurns; "
            "from proctor.harness.__main__ import main; sys.exit(main())"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", script, "--task-file", str(task), "--results", str(results)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        answers = results / ANSWERS_FILENAME
        while time.monotonic() < deadline:
            done = (results / "samples.jsonl").read_bytes().count(b"\n") if answers.exists() else 0
            if answers.exists() and answers.read_bytes().count(b"\n") >= 8 and done >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    answered = {json.loads(x)["id"] for x in answers.read_text().splitlines() if x.endswith("}")}
    raw = (results / "samples.jsonl").read_bytes().split(b"\n")[:-1]
    judged = {json.loads(x)["id"] for x in raw}
    assert judged < answered, "the kill must land while some answers wait for their verdict"
    assert len(answered) < n or len(judged) < n

    with (
        FakeEndpoint(fj.answer, record=True) as target,
        FakeEndpoint(fj.rate, key=fj.judge_key) as judge,
    ):
        assert run_task(two_turn_spec(target.base_url, judge.base_url, n), results) == 0
    # The model is asked (two turns) only for samples with no journaled answers...
    asked = {b["messages"][0]["content"] for _, b, _ in target.requests}
    assert target.total == 2 * (n - len(answered))
    assert asked == {f"First {'x' * int(i[1:])}" for i in {f"t{k}" for k in range(n)} - answered}
    # ...and the judge exactly for the samples with no journaled verdict (two per sample).
    assert judge.total == 2 * (n - len(judged))
    final = lines(results)
    assert sorted(x["id"] for x in final) == sorted(f"t{k}" for k in range(n))
    assert all(x["status"] == "scored" for x in final)
    assert metrics(results)["counts"] == {"total": n, "scored": n, "errors": 0}
