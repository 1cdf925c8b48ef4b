"""The harness against a hostile endpoint (issue 12, classes 2, 4, 5, 9): every attack
costs one sample, with its cause, and nothing the endpoint sends is kept or printed raw.

Class 2: the key echoed back (401/403/500 bodies, a malformed 200, a 200 whose content or
reasoning holds the header) never reaches samples.jsonl, results or stdout. Class 5:
deeply nested JSON in a reply, an error body or the content is one sample error. Class 9:
control characters are escaped in errors and logs; redirects other than a same-origin
307/308 are sample errors naming the status, and a followed one stays a POST.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from proctor.harness.runner import run_task
from proctor.harness.taskfile import TaskSpec
from tests.security.hostile_server import HostileEndpoint

ECHOES = [
    "echo401",
    "echo403-padded",
    "echo500",
    "echo200-malformed",
    "echo200-content",
    "echo200-reasoning",
]
NESTED = ["nested-reply", "nested-error", "nested-content"]
CONTROLS = ["esc-error", "esc-content"]
REFUSED_REDIRECTS = [
    "redirect-301-same",
    "redirect-302-same",
    "redirect-303-same",
    "redirect-302-other",
    "redirect-307-other",
    "redirect-308-other",
]
FOLLOWED_REDIRECTS = ["redirect-307-same", "redirect-308-same"]
RAW_CONTROLS = ["\x1b", "\x07", "\u202e"]


def write_dataset(folder: Path, behaviours: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": b, "input": f"{b}:x", "target": "ok"}) for b in behaviours]
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def spec(url: str, data: Path, key_name: str | None = None, **params: object) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "hostile",
            "benchmark": "jsonl",
            "endpoint": {"url": url, "model_id": "m", "api_key_name": key_name},
            "params": {
                "max_retries": 0,
                "request_timeout": 10,
                "extra": {"id_field": "id"},
                **params,
            },
            "dataset_dir": str(data),
        }
    )


def journal(results: Path) -> dict[str, dict]:
    lines = (results / "samples.jsonl").read_text().splitlines()
    return {json.loads(line)["id"]: json.loads(line) for line in lines}


def every_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def sentinel(monkeypatch: pytest.MonkeyPatch) -> str:
    key = "sk-sentinel-" + secrets.token_hex(16)
    monkeypatch.setenv("HOSTILE_KEY", key)
    return key


def test_an_echoed_key_is_scrubbed_from_every_text(tmp_path, sentinel, capfd):
    data = write_dataset(tmp_path / "data", ECHOES)
    with HostileEndpoint() as ep:
        task = spec(ep.chat_url, data, "HOSTILE_KEY", max_error_rate=1)
        code = run_task(task, tmp_path / "results")
        assert {auth for _, _, auth in ep.requests} == {f"Bearer {sentinel}"}
    out = capfd.readouterr()
    assert code == 0
    lines = journal(tmp_path / "results")
    assert lines["echo200-content"]["status"] == "scored"
    assert "[redacted]" in lines["echo200-content"]["response"]
    assert "[redacted]" in lines["echo200-reasoning"]["reasoning"]
    for name in ("echo401", "echo403-padded", "echo500", "echo200-malformed"):
        assert lines[name]["status"] == "error"
    assert lines["echo401"]["error"].startswith("http_401")
    texts = every_text(tmp_path / "results") + out.out + out.err
    # Not the key, nor any 12-character piece of it (a snippet cut inside the key).
    secret_part = sentinel.removeprefix("sk-sentinel-")
    assert sentinel not in texts
    assert all(secret_part[i : i + 12] not in texts for i in range(len(secret_part) - 11))


def test_an_env_var_named_for_the_task_is_scrubbed_too(tmp_path, monkeypatch, capfd):
    token = "hf_" + secrets.token_hex(16)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("PROCTOR_SECRET_NAMES", "HF_TOKEN")
    monkeypatch.setenv("HOSTILE_KEY", token)  # the endpoint echoes this one
    data = write_dataset(tmp_path / "data", ["echo401", "echo200-content"])
    with HostileEndpoint() as ep:
        run_task(spec(ep.chat_url, data, "HOSTILE_KEY"), tmp_path / "results")
    out = capfd.readouterr()
    assert token not in every_text(tmp_path / "results") + out.out + out.err


def test_nested_json_and_control_characters_cost_one_sample_each(tmp_path, capfd):
    data = write_dataset(tmp_path / "data", [*NESTED, *CONTROLS, "plain"])
    with HostileEndpoint() as ep:
        code = run_task(spec(ep.chat_url, data, max_error_rate=1), tmp_path / "results")
    out = capfd.readouterr()
    assert code == 0
    lines = journal(tmp_path / "results")
    assert lines["plain"]["status"] == "scored"
    for name in ("nested-reply", "nested-error", "nested-content"):
        assert lines[name]["status"] == "error", name
    assert "nested too deeply" in lines["nested-reply"]["error"]
    assert lines["esc-error"]["error"].startswith("http_400")
    assert "\\x1b" in lines["esc-error"]["error"]
    # The raw text is data and stays in the journal (JSON escapes it); errors and logs
    # hold only escaped forms.
    assert lines["esc-content"]["response"] == "\x1b[2Jcleared\x07"
    for line in lines.values():
        assert not any(c in (line["error"] or "") for c in RAW_CONTROLS)
    assert not any(c in out.out + out.err for c in RAW_CONTROLS)


def test_redirects_are_errors_unless_same_origin_307_308(tmp_path):
    data = write_dataset(tmp_path / "data", [*REFUSED_REDIRECTS, *FOLLOWED_REDIRECTS])
    with HostileEndpoint() as ep:
        run_task(spec(ep.chat_url, data, max_error_rate=1), tmp_path / "results")
        followed = [(path, body) for path, body, _ in ep.requests if path.startswith("/other")]
    lines = journal(tmp_path / "results")
    for name in REFUSED_REDIRECTS:
        status = name.split("-")[1]
        assert lines[name]["status"] == "error", name
        assert lines[name]["error"].startswith(f"http_{status}: redirect to "), lines[name]
    for name in FOLLOWED_REDIRECTS:
        assert lines[name]["status"] == "scored", lines[name]
    # Only the two same-origin 307/308 reached the other path, each still a POST with its body.
    assert sorted(body["messages"][-1]["content"] for _, body in followed) == sorted(
        f"{name}:x" for name in FOLLOWED_REDIRECTS
    )
