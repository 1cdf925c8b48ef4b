"""`inv run` for real: rendered scripts start real containers on a real Docker Engine."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from proctor.launcher.images import HARNESS_LATEST
from tests.integration.helpers import (
    BASE_IMAGE,
    all_text_under,
    invocation_dir,
    proctor_containers,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.docker

WRITES_RESULTS = (
    'echo "key has ${#MY_KEY} chars; greeting=$GREETING"; '
    'printf \'{"uid": %s, "greeting": "%s"}\' "$(id -u)" "$GREETING" > /results/results.json'
)


def test_custom_command_task_runs_in_a_container(tmp_path, inv):
    key = secrets.token_hex(16)
    (tmp_path / ".env").write_text(f"MY_KEY={key}\nHOST_GREETING=hello there\n")
    config = write_config(
        tmp_path,
        [
            {
                "name": "writer",
                "container": BASE_IMAGE,
                "command": WRITES_RESULTS,
                "env_vars": {"GREETING": "HOST_GREETING"},
            },
            {"name": "failer", "container": BASE_IMAGE, "command": "echo failing; exit 7"},
        ],
        target={
            "api_endpoint": {
                "url": "http://127.0.0.1:9/v1",
                "model_id": "m",
                "api_key_name": "MY_KEY",
            }
        },
    )
    result = inv("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    assert inv_id in result.stdout

    wait_for(
        lambda: all((folder / t / "logs" / "stage.exit").exists() for t in ("writer", "failer"))
    )
    writer, failer = folder / "writer", folder / "failer"
    for marker in ("stage.pre-start", "stage.running", "stage.exit", "script.pid"):
        assert (writer / "logs" / marker).is_file(), marker
    assert (writer / "logs" / "stage.exit").read_text().split()[1] == "0"
    assert (failer / "logs" / "stage.exit").read_text().split()[1] == "7"

    results = json.loads((writer / "artifacts" / "results.json").read_text())
    assert results == {"uid": os.getuid(), "greeting": "hello there"}
    stat = (writer / "artifacts" / "results.json").stat()
    assert (stat.st_uid, stat.st_gid) == (os.getuid(), os.getgid())
    assert f"key has {len(key)} chars" in (writer / "logs" / "stdout.log").read_text()
    assert "failing" in (failer / "logs" / "stdout.log").read_text()

    record = yaml.safe_load((folder / "invocation.yaml").read_text())
    assert record["env_file"] == str((tmp_path / ".env").resolve())
    assert [j["task"] for j in record["jobs"]] == ["writer", "failer"]
    assert key not in all_text_under(folder)
    assert key not in result.stdout + result.stderr
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)


def test_run_sh_by_hand_from_a_fresh_shell_reruns_the_task(tmp_path, inv):
    (tmp_path / ".env").write_text("HOST_GREETING=from the env file\n")
    config = write_config(
        tmp_path,
        [
            {
                "name": "writer",
                "container": BASE_IMAGE,
                "command": WRITES_RESULTS.replace("${#MY_KEY}", "0"),
                "env_vars": {"GREETING": "HOST_GREETING"},
            }
        ],
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    task = invocation_dir(tmp_path) / "writer"
    wait_for(lambda: (task / "logs" / "stage.exit").exists())
    (task / "artifacts" / "results.json").unlink()
    # A clean environment: no variables from this test process, not even HOST_GREETING.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run(["bash", str(task / "run.sh")], env=env, cwd="/", timeout=120)
    assert done.returncode == 0
    assert json.loads((task / "artifacts" / "results.json").read_text())["greeting"] == (
        "from the env file"
    )
    assert (task / "logs" / "stage.exit").read_text().split()[1] == "0"


def test_run_sh_stops_with_a_clear_message_when_a_variable_is_gone(tmp_path, inv):
    env_file = tmp_path / ".env"
    env_file.write_text("MY_KEY=abc\n")
    config = write_config(
        tmp_path,
        [{"name": "t", "container": BASE_IMAGE, "command": "true"}],
        target={
            "api_endpoint": {
                "url": "http://127.0.0.1:9/v1",
                "model_id": "m",
                "api_key_name": "MY_KEY",
            }
        },
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    task = invocation_dir(tmp_path) / "t"
    wait_for(lambda: (task / "logs" / "stage.exit").exists())
    env_file.write_text("# emptied\n")
    env = {"PATH": os.environ["PATH"]}
    done = subprocess.run(["bash", str(task / "run.sh")], env=env, timeout=60)
    assert done.returncode == 2
    log = (task / "logs" / "stdout.log").read_text()
    assert "environment variable MY_KEY is not set" in log
    assert (task / "logs" / "stage.exit").read_text().split()[1:] == ["2", "missing-env:MY_KEY"]


def test_secret_never_on_a_command_line_while_the_container_runs(tmp_path, inv):
    key = "sentinel-" + secrets.token_hex(12)
    config = write_config(
        tmp_path,
        [
            {
                "name": "sleeper",
                "container": BASE_IMAGE,
                "command": 'test -n "$MY_KEY" && sleep 4 && echo ok > /results/done',
            }
        ],
        target={
            "api_endpoint": {
                "url": "http://127.0.0.1:9/v1",
                "model_id": "m",
                "api_key_name": "MY_KEY",
            }
        },
    )
    result = inv("run", "--config", str(config), env={"MY_KEY": key}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    task = invocation_dir(tmp_path) / "sleeper"
    seen_running = False
    while not (task / "logs" / "stage.exit").exists():
        args = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert key not in args
        seen_running = seen_running or "docker run" in args
    assert seen_running
    assert (task / "artifacts" / "done").read_text() == "ok\n"
    dry = inv("run", "--config", str(config), "--dry-run", env={"MY_KEY": key}, cwd=tmp_path)
    assert dry.returncode == 0 and "docker run" in dry.stdout
    assert key not in dry.stdout + dry.stderr + result.stdout + result.stderr
    assert key not in all_text_under(tmp_path / "outputs")


def test_results_belong_to_the_user_who_ran_it_not_root(tmp_path, monkeypatch):
    """An unprivileged user's run: everything the container writes is that user's.

    The launcher's Python may not be reachable by an unprivileged user on a test machine,
    so the folder is planned here with that user's ids, handed to it, and its run.sh (bash
    and the docker CLI only) is run as that user.
    """
    import grp
    import shutil
    import tempfile

    from proctor.launcher.run.launch import prepare, write_folder

    if os.geteuid() == 0:
        uid, gid = 65534, grp.getgrnam("docker").gr_gid
        switch = {"user": uid, "group": gid, "extra_groups": []}
    else:  # already unprivileged: run as ourselves
        uid, gid, switch = os.getuid(), os.getgid(), {}
    monkeypatch.setattr(os, "getuid", lambda: uid)
    monkeypatch.setattr(os, "getgid", lambda: gid)
    work = Path(tempfile.mkdtemp(prefix="proctor-uid-"))
    try:
        config = write_config(
            work,
            [
                {
                    "name": "w",
                    "container": BASE_IMAGE,
                    "command": "id -u > /results/uid; mkdir /results/sub; touch /results/sub/f",
                }
            ],
        )
        plan, files = prepare(str(config), cwd=work)
        assert f"--user {uid}:{gid}" in files["w/run.sh"][0]
        (work / "outputs").mkdir()
        write_folder(plan.folder, files, ["w"])
        for path in [work, work / "outputs", *(work / "outputs").rglob("*")]:
            if switch:
                shutil.chown(path, uid, gid)
        monkeypatch.undo()
        done = subprocess.run(
            ["bash", str(plan.folder / "w" / "run.sh")],
            env={"PATH": os.environ["PATH"], "HOME": str(work)},
            user=uid,
            group=gid,
            extra_groups=[],
            cwd=work,
            timeout=120,
        )
        assert done.returncode == 0
        task = plan.folder / "w"
        assert (task / "logs" / "stage.exit").read_text().split()[1] == "0"
        assert (task / "artifacts" / "uid").read_text().strip() == str(uid)
        for path in [plan.folder, *plan.folder.rglob("*")]:
            assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
            assert path.stat().st_mode & 0o002 == 0, f"world-writable: {path}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_task_killed_for_memory_says_so_and_others_keep_their_exit_codes(tmp_path, inv):
    """A container over its memory limit is OOM-killed (exit 137, Docker's OOMKilled): the
    job's exit marker says oom-killed and inv status says OOM-killed. A task that exits 137
    by itself, or another non-zero code, is not called OOM-killed."""
    hog = "python3 -c 'x = bytearray(400 * 1024 * 1024)'"
    config = write_config(
        tmp_path,
        [
            {"name": "hog", "container": HARNESS_LATEST, "command": hog},
            {"name": "self137", "container": BASE_IMAGE, "command": "exit 137"},
            {"name": "three", "container": BASE_IMAGE, "command": "exit 3"},
        ],
        execution={"extra_docker_args": ["--memory", "48m", "--memory-swap", "48m"]},
    )
    result = inv("run", "--config", str(config), "--wait", cwd=tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr
    folder = invocation_dir(tmp_path)
    exits = {
        t: (folder / t / "logs" / "stage.exit").read_text().split()[1:]
        for t in ("hog", "self137", "three")
    }
    assert exits == {"hog": ["137", "oom-killed"], "self137": ["137"], "three": ["3"]}
    data = json.loads(inv("status", "--json", cwd=tmp_path).stdout)
    rows = {j["task"]: j for j in (data[0] if isinstance(data, list) else data)["jobs"]}
    assert "OOM-killed" in json.dumps(rows["hog"])
    assert "OOM" not in json.dumps(rows["self137"]) + json.dumps(rows["three"])
