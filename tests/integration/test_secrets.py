"""A random sentinel API key travels to the endpoint and nowhere else: not into outputs/,
logs, `inv` output (errors and --dry-run included), or any process's command line. The
task is judged, so a second sentinel, the judge's key, is held to the same rule, and so is
a third, the value of an extra request header (endpoint.headers)."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.fakes import judge as fj
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import all_text_under, invocation_dir, wait_for

pytestmark = pytest.mark.docker


def test_the_key_reaches_the_endpoint_and_nothing_else(tmp_path, inv):
    key = "sk-sentinel-" + secrets.token_hex(16)
    judge_key = "sk-judge-sentinel-" + secrets.token_hex(16)
    header = "hdr-sentinel-" + secrets.token_hex(16)
    (tmp_path / ".env").write_text(
        f"PROCTOR_SECRET_KEY={key}\nPROCTOR_JUDGE_KEY={judge_key}\nPROCTOR_ORG_TOKEN={header}\n"
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text(
        "".join(json.dumps({"input": f"q{i}", "target": f"q{i}"}) + "\n" for i in range(16))
    )
    printed = []
    with (
        FakeEndpoint(delay=0.3, record=True) as ep,
        FakeEndpoint(fj.rate, record=True) as judge,
    ):
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "target": {
                        "api_endpoint": {
                            "url": ep.chat_url,
                            "model_id": "m",
                            "api_key_name": "PROCTOR_SECRET_KEY",
                            "headers": {"X-Org-Token": "PROCTOR_ORG_TOKEN"},
                        }
                    },
                    "evaluation": {
                        "params": {"parallelism": 2},
                        "judge": {
                            "url": judge.base_url,
                            "model_id": "j",
                            "api_key_name": "PROCTOR_JUDGE_KEY",
                        },
                        "tasks": [
                            {
                                "name": "jsonl",
                                "dataset_dir": str(data),
                                "params": {
                                    "extra": {
                                        "scorer": "judge",
                                        "judge_template": "Rate {response} as [[N]].",
                                    }
                                },
                            }
                        ],
                    },
                    "execution": {"output_dir": str(tmp_path / "outputs")},
                }
            )
        )
        for args in (
            ["run", "--config", str(config), "--dry-run"],
            ["run", "--config", str(config), "-o", "execution.mode=warp"],
            ["run", "--config", str(config)],
        ):
            result = inv(*args, cwd=tmp_path)
            printed.append(result.stdout + result.stderr)
        assert "docker run" in printed[0] and "execution.mode" in printed[1]
        folder = invocation_dir(tmp_path)
        exit_marker = folder / "jsonl" / "logs" / "stage.exit"
        # Every process's command line, read every 50 ms while the task runs, in a thread of
        # its own: the inv commands below take about a second each, long enough to miss the
        # whole task between two looks.
        command_lines: list[str] = []
        watcher = threading.Thread(target=watch_command_lines, args=(exit_marker, command_lines))
        watcher.start()
        while not exit_marker.exists():
            for command in (["status"], ["status", "--json"], ["logs"], ["ls"]):
                result = inv(*command, cwd=tmp_path)
                printed.append(result.stdout + result.stderr)
        watcher.join()
        assert all(s not in args for s in (key, judge_key, header) for args in command_lines)
        assert any("docker run" in args for args in command_lines)
        assert exit_marker.read_text().split()[1] == "0"
        wait_for(lambda: ep.total == 16 and judge.total == 16)
        assert {auth for _, _, auth in ep.requests} == {f"Bearer {key}"}
        assert {auth for _, _, auth in judge.requests} == {f"Bearer {judge_key}"}
        assert {h["X-Org-Token"] for h in ep.headers} == {header}

    for command in (["status"], ["logs"], ["ls"]):
        printed.append(inv(*command, cwd=tmp_path).stdout)
    assert all(key not in text and judge_key not in text and header not in text for text in printed)
    everything = all_text_under(tmp_path / "outputs")
    assert key not in everything and judge_key not in everything and header not in everything
    assert (folder / "jsonl" / "artifacts" / "answers.jsonl").exists()
    recorded = (folder / "invocation.yaml").read_text()
    assert "PROCTOR_SECRET_KEY" in recorded and "PROCTOR_JUDGE_KEY" in recorded  # names kept


def watch_command_lines(until: Path, seen: list[str]) -> None:
    """Append `ps`'s list of command lines to `seen` every 50 ms until `until` exists."""
    while not until.exists():
        seen.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
        time.sleep(0.05)
