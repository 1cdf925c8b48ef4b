"""Rendering: strict templates, every value quoted, hostile values stay literal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from proctor.launcher import config
from proctor.launcher.executors.local import scripts
from proctor.launcher.run import render
from proctor.launcher.run.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = 'it\'s $(touch /tmp/pwned) `id` "q" ; rm -rf ~ \\ $HOME'


def plan_for(tmp_path: Path, overrides: list[str], data: dict | None = None):
    data = data or {
        "target": {
            "api_endpoint": {
                "url": "http://127.0.0.1:8000/v1",
                "model_id": "m",
                "api_key_name": "MY_KEY",
            }
        },
        "evaluation": {
            "tasks": [
                {"name": "custom", "container": "img:1", "command": "true"},
                {"name": "custom", "container": "img:1", "command": "true"},
            ]
        },
        "execution": {"output_dir": str(tmp_path / "out")},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = config.load(path, overrides)
    return make_plan(cfg, path, invocation_id="0123abcd")


def test_every_interpolation_in_the_templates_is_quoted():
    for template in (ROOT / "templates").rglob("*.sh.j2"):  # shell only; HTML autoescapes
        text = re.sub(r"{% raw %}.*?{% endraw %}", "", template.read_text(), flags=re.S)
        for expr in re.findall(r"{{(.*?)}}", text):
            assert re.search(
                r"\|\s*(q|qwords|sbatch)\s*$", expr.strip()
            ), f"{template.name}: {{{{{expr}}}}}"


def test_strict_undefined():
    env = render.environment()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("local/run_all.sh.j2").render()


def test_hostile_values_reach_docker_literally(tmp_path):
    plan = plan_for(
        tmp_path,
        [
            f"evaluation.tasks.0.command={HOSTILE}",
            f"target.api_endpoint.model_id={HOSTILE}",
            "execution.extra_docker_args=['--memory', '1g; echo owned']",
        ],
    )
    script = scripts.render_run(plan, plan.jobs[0])
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # Replace docker with a function that prints its argv, one per line, and run the script.
    task_dir = tmp_path / "t"
    (task_dir / "logs").mkdir(parents=True)
    (task_dir / "task.yaml").write_text("x: 1\n")
    script = script.replace(str(plan.folder.resolve() / plan.jobs[0].dirname), str(task_dir))
    shim = 'docker() { if [[ $1 == run ]]; then printf "%s\\n" "$@" >"$LOGS/argv"; fi; }\n'
    script = script.replace("docker rm -f", shim + "docker rm -f", 1)
    subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "MY_KEY": "k"},
        check=False,
        timeout=30,
    )
    argv = (task_dir / "logs" / "argv").read_text().splitlines()
    assert argv[-1] == HOSTILE
    assert "1g; echo owned" in argv
    assert not Path("/tmp/pwned").exists()


def test_duplicate_tasks_get_numbered_folders_and_distinct_containers(tmp_path):
    plan = plan_for(tmp_path, [])
    assert [j.dirname for j in plan.jobs] == ["custom.1", "custom.2"]
    assert len({j.name for j in plan.jobs}) == 2
    files = render.render_files(plan)
    assert set(files) == {
        "invocation.yaml",
        "run_all.sh",
        "custom.1/run.sh",
        "custom.1/task.yaml",
        "custom.2/run.sh",
        "custom.2/task.yaml",
    }


def test_invocation_record_holds_names_not_values(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sentinel-value-42")
    plan = plan_for(tmp_path, [])
    files = render.render_files(plan)
    record = yaml.safe_load(files["invocation.yaml"][0])
    assert record["config"]["target"]["api_endpoint"]["api_key_name"] == "MY_KEY"
    assert record["config_hash"] and record["jobs"][1]["id"] == "0123abcd.1"
    assert all("sentinel-value-42" not in text for text, _ in files.values())


def test_labels_and_network(tmp_path):
    plan = plan_for(tmp_path, [])
    script = scripts.render_run(plan, plan.jobs[1])
    for label in (
        "proctor.invocation=0123abcd",
        "proctor.job=0123abcd.1",
        "proctor.task=custom.2",
        f"proctor.config-hash={plan.jobs[1].spec.config_hash()}",
    ):
        assert f"--label {label}" in script
    assert "--network host" in script  # loopback endpoint
    assert "-e MY_KEY" in script and "MY_KEY=" not in script.split("docker run")[1]


def test_sequential_run_all_has_no_background_jobs(tmp_path):
    plan = plan_for(tmp_path, ["execution.mode=sequential"])
    text = scripts.render_run_all(plan)
    assert "&\n" not in text and "wait -n" not in text
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_only_code_benchmarks_get_a_locked_down_sandbox_container(tmp_path):
    data = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:8000/v1", "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "humaneval"}, {"name": "gsm8k"}]},
        "execution": {"output_dir": str(tmp_path / "out")},
    }
    plan = plan_for(tmp_path, [], data)
    code, plain = (scripts.render_run(plan, job) for job in plan.jobs)
    assert plan.jobs[0].sandbox and not plan.jobs[1].sandbox
    assert "sandbox" not in plain
    sandbox_run = code.split("docker run --init -i --rm")[1].split('docker rm -f "$CONTAINER"')[0]
    for flag in (
        "--network=none",
        "--read-only",
        "--pids-limit=",
        "--memory=",
        "--cpus=",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--label proctor.role=sandbox",
        '-v "$SANDBOX_DIR:/sandbox"',
    ):
        assert flag in sandbox_run
    assert "/results" not in sandbox_run and "$ARTIFACTS" not in sandbox_run
    assert "trap 'stop_sandbox' EXIT" in code
    assert "--sandbox /sandbox/sandbox.sock" in code.split("proctor-task")[1]


def test_header_variables_travel_by_name_like_the_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("ORG_TOKEN", "sentinel-header-99")
    plan = plan_for(tmp_path, ["target.api_endpoint.headers={X-Org: ORG_TOKEN}"])
    assert plan.required_env() == ["MY_KEY", "ORG_TOKEN"]
    files = render.render_files(plan)
    run_sh = files["custom.1/run.sh"][0]
    assert "-e ORG_TOKEN " in run_sh and "-e MY_KEY " in run_sh  # by name into the container
    task = yaml.safe_load(files["custom.1/task.yaml"][0])
    assert task["endpoint"]["headers"] == {"X-Org": "ORG_TOKEN"}
    assert all("sentinel-header-99" not in text for text, _ in files.values())
