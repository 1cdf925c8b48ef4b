"""Rendered scripts never run what the config did not ask for (issue 12, class 1).

An invocation whose every string field the scripts see holds newlines, quotes,
``$(touch MARKER)``, backticks and non-ASCII is made by a real ``inv run``, whose
run_all.sh, deploy.sh and run.sh then run under bash with ``docker`` on PATH replaced by
a recorder. MARKER must never exist, and each value must reach its docker command as
one literal argument. Values that cannot be literal (task names, variable names, image
references) are refused at config time instead (tests/security/test_config_input.py);
here they are checked to be refused too.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from proctor.launcher import config
from proctor.launcher.errors import ProctorError
from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import wait_for, wait_for_drivers

pytestmark = pytest.mark.docker

HARNESS_IMAGE = config.DEFAULT_IMAGE

RECORDER = r"""#!/usr/bin/env python3
# A stand-in for the docker CLI: records argv (and HF_TOKEN's value) as one JSON line.
import json, os, sys
with open(os.environ["DOCKER_RECORD"], "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "hf": os.environ.get("HF_TOKEN")}) + "\n")
args = sys.argv[1:]
running = os.environ["DOCKER_RECORD"] + ".running"  # the one detached container is up
if args[:1] == ["inspect"]:
    up = any("State.Running" in a for a in args) and os.path.exists(running)
    print("true" if up else "false")
elif args[:1] == ["run"] and "-d" in args:
    open(running, "w").close()
    print("0" * 64)
elif args[:1] in (["stop"], ["rm"]) and any(a.endswith("-server") for a in args):
    if os.path.exists(running):
        os.remove(running)
"""


def hostile(marker: Path) -> str:
    """Quotes of both kinds, a newline, command substitution, backticks, non-ASCII."""
    return f'it\'s "q" \n$(touch {marker}) `touch {marker}` ${{IFS}}ü 猫 \\ ;|&'


def test_hostile_values_reach_their_commands_literally(tmp_path, inv):
    marker = tmp_path / "MARKER"
    h = hostile(marker)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(RECORDER)
    (bin_dir / "docker").chmod(0o755 | stat.S_IXUSR)
    record = tmp_path / "docker.jsonl"
    weird = tmp_path / f"dir {h}".replace(":", "")
    weird.mkdir(parents=True)
    # docker -v cannot take a newline, ':' or ',' in a path: config refuses those there.
    data = tmp_path / f"data {h}".replace("\n", "")
    data.mkdir(parents=True)
    (data / "qa.jsonl").write_text('{"id": "a", "input": "1+1?", "target": "2"}\n')
    mount = data / "models"
    mount.mkdir()
    # The .env value is hostile too (without ${IFS}: python-dotenv expands ${VAR} itself).
    h_env = h.replace("${IFS}", "")
    (tmp_path / ".env").write_text(f"HF_TOKEN={json.dumps(h_env, ensure_ascii=False)}\n")
    with FakeEndpoint() as ep:
        cfg = {
            "target": {
                "api_endpoint": {
                    "url": f"http://127.0.0.1:{ep.port}/v1$(touch%20{marker.name})`id`",
                    "model_id": h,
                    "type": "chat",
                }
            },
            "deployment": {
                "type": "docker",
                "image": HARNESS_IMAGE,
                "port": ep.port,
                "health_path": "/v1/models",
                "command": h,
                "env_vars": {"HF_TOKEN": "HF_TOKEN"},
                "mounts": [f"{mount}:/models:ro"],
                "extra_docker_args": [h, f"--label=x={h}"],
                "startup_timeout": 30,
            },
            "evaluation": {
                "params": {"system_prompt": h, "stop": [h], "extra": {"note": h}},
                "env_vars": {"HF_TOKEN": "HF_TOKEN"},
                "tasks": [
                    {"name": "jsonl", "dataset_dir": str(data)},
                    {"name": "mine.1-x_y", "container": HARNESS_IMAGE, "command": h},
                ],
            },
            "execution": {
                "output_dir": str(weird / "outputs"),
                "extra_docker_args": [h, f"--env=X={h}"],
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "DOCKER_RECORD": str(record),
        }
        result = inv("run", "--config", str(path), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs = weird / "outputs"
        folder = next(outputs.iterdir())
        wait_for(lambda: (folder / "run_all.pid").exists())
        wait_for_drivers(folder, timeout=120)
    assert not marker.exists()
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    runs = [c["argv"] for c in calls if c["argv"][:1] == ["run"]]
    server = next(a for a in runs if "-d" in a)
    tasks = [a for a in runs if "-d" not in a and "proctor-task" in a]
    assert len(tasks) == 2, runs
    # The deployment: extra args, mount and command, each one argument, unchanged.
    assert h in server and f"--label=x={h}" in server
    assert f"{mount}:/models:ro" in server
    assert server[server.index("sh") + 1 : server.index("sh") + 3] == ["-c", h]
    # Every task: execution.extra_docker_args, its folders and the dataset as given.
    for argv in tasks:
        assert h in argv and f"--env=X={h}" in argv
        assert any(a.startswith(str(outputs)) and a.endswith(":/results") for a in argv)
    jsonl = next(a for a in tasks if f"{data}:/datasets:ro" in a)
    mine = next(a for a in tasks if a is not jsonl)
    assert mine[mine.index("proctor-task") + 1] == h  # the custom command, literally
    # The .env value reached docker's environment unchanged (never its command line).
    assert {c["hf"] for c in calls if c["argv"][:1] == ["run"]} == {h_env}
    assert not any(h_env in a for argv in runs for a in argv if a.startswith("HF_TOKEN"))
    # task.yaml carries model_id and params literally.
    spec = yaml.safe_load((folder / "jsonl" / "task.yaml").read_text())
    assert spec["endpoint"]["model_id"] == h
    assert spec["params"]["system_prompt"] == h and spec["params"]["stop"] == [h]
    assert spec["params"]["extra"]["note"] == h
    # No comment of any script holds a config value.
    for script in [folder / "run_all.sh", folder / "deploy.sh", *folder.glob("*/run.sh")]:
        for line in script.read_text().splitlines():
            if line.lstrip().startswith("#"):
                assert "touch" not in line and "猫" not in line, (script, line)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("evaluation.tasks.0.name", "jsonl\n"),
        ("evaluation.tasks.0.name", "x$(touch M)"),
        ("evaluation.tasks.0.name", "x`id`"),
        ("evaluation.tasks.0.name", "ü"),
        ("evaluation.env_vars", {"A\n": "B"}),
        ("evaluation.env_vars", {"A": "B$(id)"}),
        ("target.api_endpoint.api_key_name", "K\n"),
        ("execution.image", "img\n$(touch M)"),
        ("execution.image", "--privileged"),
        ("execution.image", "a b"),
        ("evaluation.tasks.0.container", "x`id`"),
        ("evaluation.tasks.0.dataset_dir", "/tmp/a:/etc"),
        ("target.api_endpoint.url", "http://h/v1\n$(touch M)"),
    ],
)
def test_values_that_cannot_be_literal_are_refused(tmp_path, key, value):
    data: dict = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "jsonl", "command": "true"}]},
    }
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProctorError) as e:
        config.load(path)
    assert "\n" not in str(e.value)
