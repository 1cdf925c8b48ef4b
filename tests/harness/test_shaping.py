"""Request shaping: extra_body and extra headers reach the endpoint as configured; an
endpoint that refuses an extra_body field fails the task once, naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from proctor.harness import shaping
from proctor.harness.benchmarks import register
from proctor.harness.client import Failure
from proctor.harness.errors import InputError
from proctor.harness.runner import EXIT_BAD_INPUT, run_task
from proctor.harness.taskfile import Endpoint, Params, TaskSpec
from tests.fakes.benchmark import BENCHMARK, answer
from tests.fakes.endpoint import FakeEndpoint, Fault

register(BENCHMARK)

EXTRA = {
    "chat_template_kwargs": {"enable_thinking": False},
    "reasoning_effort": "low",
    "top_k": 20,
}


def spec(url: str, **params: Any) -> TaskSpec:
    endpoint = params.pop("endpoint", {})
    return TaskSpec.model_validate(
        {
            "name": "t",
            "benchmark": "arith",
            "endpoint": {"url": url, "model_id": "m", **endpoint},
            "params": {"parallelism": 4, "max_retries": 1, "extra": {"n": 12}, **params},
        }
    )


def test_merge_is_deep_and_leaves_the_body_alone() -> None:
    body = {"model": "m", "chat_template_kwargs": {"add_generation_prompt": True}}
    merged = shaping.merge(body, EXTRA)
    assert merged == {
        "model": "m",
        "chat_template_kwargs": {"add_generation_prompt": True, "enable_thinking": False},
        "reasoning_effort": "low",
        "top_k": 20,
    }
    assert body == {"model": "m", "chat_template_kwargs": {"add_generation_prompt": True}}


@pytest.mark.parametrize("key", ["model", "messages", "temperature", "max_tokens", "stream"])
def test_extra_body_may_not_set_what_proctor_sets(key: str) -> None:
    with pytest.raises(ValidationError, match=f"'{key}' is set by proctor"):
        Params(extra_body={key: 1})


@pytest.mark.parametrize(
    "headers, message",
    [
        ({"X-Org": "not a name"}, "NAME of an environment variable"),
        ({"Authorization": "KEY"}, "api_key_name"),
        ({"Content-Type": "CT"}, "set by proctor"),
        ({"Bad Header": "X"}, "not a valid HTTP header name"),
    ],
)
def test_bad_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Endpoint(url="http://127.0.0.1:1/v1", model_id="m", headers=headers)


def test_a_header_variable_that_is_unset_names_the_variable() -> None:
    with pytest.raises(InputError, match="ORG_SECRET .endpoint.headers.X-Org. is empty"):
        shaping.request_headers({"X-Org": "ORG_SECRET"}, environ={})


def test_rejected_field_needs_a_400_or_422_naming_the_field() -> None:
    named = Failure("fatal", "http_400", "Unrecognized request argument supplied: top_k")
    assert shaping.rejected_field(named, EXTRA) == "top_k"
    fastapi = Failure("fatal", "http_422", '{"detail":[{"loc":["body","enable_thinking"]}]}')
    assert shaping.rejected_field(fastapi, EXTRA) == "chat_template_kwargs.enable_thinking"
    assert shaping.rejected_field(Failure("fatal", "http_400", "context too long"), EXTRA) is None
    assert shaping.rejected_field(Failure("transient", "http_503", "top_k"), EXTRA) is None
    assert shaping.rejected_field(named, {}) is None
    assert shaping.rejected_field(None, EXTRA) is None
    # A whole word only: "top_k" is not named by "top_kx".
    assert shaping.rejected_field(Failure("fatal", "http_400", "top_kx"), {"top_k": 1}) is None


def test_extra_body_and_headers_arrive_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    secret = "sentinel-b7f3c1-header-value"
    monkeypatch.setenv("ORG_SECRET", secret)
    monkeypatch.setenv("TRACE_ID", "trace-42")
    headers = {"X-Org-Token": "ORG_SECRET", "X-Trace": "TRACE_ID"}
    with FakeEndpoint(answer, record=True) as ep:
        task = spec(ep.base_url, extra_body=EXTRA, endpoint={"headers": headers})
        code = run_task(task, tmp_path)
    assert code == 0
    assert ep.total == 12
    for _, body, _ in ep.requests:
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
        assert body["reasoning_effort"] == "low" and body["top_k"] == 20
        assert body["temperature"] == 0.0 and body["model"] == "m"  # proctor's own keys stay
    for received in ep.headers:
        assert received["X-Org-Token"] == secret and received["X-Trace"] == "trace-42"
    # The value is in no file the task wrote, nor in what it printed; the NAME is in task.yaml.
    (tmp_path / "task.yaml").write_text(task.to_yaml())
    assert "ORG_SECRET" in (tmp_path / "task.yaml").read_text()
    out = capsys.readouterr()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in out.out + out.err


def test_extra_body_changes_the_config_hash_only_when_set() -> None:
    base = spec("http://127.0.0.1:1/v1")
    assert spec("http://127.0.0.1:1/v1", extra_body={}).config_hash() == base.config_hash()
    assert spec("http://127.0.0.1:1/v1", extra_body={"top_k": 1}).config_hash() != (
        base.config_hash()
    )
    # Headers name variables, like api_key_name: they decide no score, so no new journal.
    with_headers = spec("http://127.0.0.1:1/v1", endpoint={"headers": {"X-A": "A"}})
    assert with_headers.config_hash() == base.config_hash()


def test_a_rejected_extra_body_field_fails_the_task_once(tmp_path: Path, capsys: Any) -> None:
    refusal = Fault(
        400, body=json.dumps({"error": {"message": "Unrecognized request argument: top_k"}})
    )

    def refuse_top_k(key: str, nth: int, body: dict[str, Any]) -> Fault | None:
        return refusal if "top_k" in body else None

    with FakeEndpoint(answer, faults=refuse_top_k) as ep:
        code = run_task(spec(ep.base_url, extra_body={"top_k": 20}, parallelism=8), tmp_path)
    assert code == EXIT_BAD_INPUT
    assert ep.total == 1  # one request, not one per sample
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "params.extra_body field 'top_k'" in err[0] and "http_400" in err[0]
    assert (tmp_path / "samples.jsonl").read_text() == ""  # nothing journaled: resumable
    assert not (tmp_path / "results.json").exists()


def test_an_unrelated_400_stays_an_error_of_its_sample(tmp_path: Path) -> None:
    def refuse_q3(key: str, nth: int, body: dict[str, Any]) -> Fault | None:
        return Fault(400, body='{"error": "prompt too long"}') if "3 plus" in key else None

    with FakeEndpoint(answer, faults=refuse_q3) as ep:
        code = run_task(spec(ep.base_url, extra_body={"top_k": 20}, max_error_rate=0.5), tmp_path)
    assert code == 0
    assert ep.total == 12
    lines = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines if line["status"] == "error"] == ["q3"]
