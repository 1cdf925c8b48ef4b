"""Class 2 end to end (issue 12): an endpoint that echoes the request's headers back in
4xx, 5xx and malformed 2xx bodies, and in well-formed replies, through `inv run` in the
harness container. Neither the key nor a secret passed by env_vars appears in any file
under outputs/ (report.html included) or in any `inv` output (status, --json, logs,
report, report --html)."""

from __future__ import annotations

import json
import secrets

import pytest
import yaml

from tests.integration.helpers import all_text_under
from tests.security.hostile_server import HostileEndpoint

pytestmark = pytest.mark.docker

ECHOES = [
    "echo401",
    "echo403-padded",
    "echo500",
    "echo200-malformed",
    "echo200-content",
    "echo200-reasoning",
    "esc-error",
]


def test_an_echoed_key_is_nowhere_in_outputs_or_inv_output(tmp_path, inv):
    key = "sk-sentinel-" + secrets.token_hex(16)
    token = "hf_sentinel" + secrets.token_hex(16)
    (tmp_path / ".env").write_text(f"PROCTOR_SECRET_KEY={key}\nHF_TOKEN={token}\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text(
        "".join(
            json.dumps({"id": f"{b}-{i}", "input": f"{b}:{i}", "target": "ok"}) + "\n"
            for b in ECHOES
            for i in range(2)
        )
    )
    with HostileEndpoint() as ep:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "target": {
                        "api_endpoint": {
                            "url": ep.chat_url,
                            "model_id": "m",
                            "api_key_name": "PROCTOR_SECRET_KEY",
                        }
                    },
                    "evaluation": {
                        "params": {
                            "max_retries": 0,
                            "max_error_rate": 1,
                            "extra": {"id_field": "id"},
                        },
                        "env_vars": {"HF_TOKEN": "HF_TOKEN"},
                        "tasks": [{"name": "jsonl", "dataset_dir": str(data)}],
                    },
                    "execution": {"output_dir": str(tmp_path / "outputs")},
                }
            )
        )
        result = inv("run", "--config", str(config), "--wait", cwd=tmp_path, timeout=300)
        printed = [result.stdout + result.stderr]
        assert result.returncode == 0, printed[0][-3000:]
        assert {auth for _, _, auth in ep.requests} == {f"Bearer {key}"}
    for command in (
        ["status"],
        ["status", "--json"],
        ["logs"],
        ["ls"],
        ["report"],
        ["report", "--format", "json"],
        ["report", "--html"],
    ):
        out = inv(*command, cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)
        printed.append(out.stdout + out.stderr)
    everything = "\n".join(printed) + all_text_under(tmp_path / "outputs")
    assert "[redacted]" in everything  # the echoes did come back, scrubbed
    for secret in (key, token):
        assert secret not in everything
        tail = secret[-24:]
        assert all(tail[i : i + 12] not in everything for i in range(len(tail) - 11))
    assert "\x1b" not in "\n".join(printed)
