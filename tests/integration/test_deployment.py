"""deployment.type docker: one server per invocation, health-checked, always stopped."""

from __future__ import annotations

import time

import pytest

from proctor.launcher.images import SERVER_LATEST
from tests.integration.helpers import (
    BASE_IMAGE,
    free_port,
    invocation_dir,
    proctor_containers,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.docker

FETCH = (
    'python3 -c "import urllib.request as u; '
    "print(u.urlopen('http://127.0.0.1:{port}/hello.txt').read().decode())\" "
    "> /results/fetched.txt"
)


def test_tasks_share_one_healthy_server_that_is_stopped_at_the_end(tmp_path, inv):
    port = free_port()
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello from the server")
    (tmp_path / ".env").write_text("HOST_GREETING=greetings from .env\n")
    config = write_config(
        tmp_path,
        [
            {"name": "a", "container": BASE_IMAGE, "command": FETCH.format(port=port)},
            {"name": "b", "container": BASE_IMAGE, "command": FETCH.format(port=port)},
        ],
        deployment={
            "type": "docker",
            "image": BASE_IMAGE,
            "port": port,
            "container_port": 8000,
            "command": 'echo "server says: $GREETING"; cd /site && exec python3 -m http.server 8000',
            "health_path": "/hello.txt",
            "startup_timeout": 60,
            "mounts": [f"{site}:/site:ro"],
            "env_vars": {"GREETING": "HOST_GREETING"},
        },
        target={"api_endpoint": {"model_id": "m"}},
    )
    result = inv("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    wait_for(lambda: all((folder / t / "logs" / "stage.exit").exists() for t in "ab"), timeout=90)
    for task in "ab":
        assert (folder / task / "logs" / "stage.exit").read_text().split()[1] == "0"
        assert (
            folder / task / "artifacts" / "fetched.txt"
        ).read_text() == "hello from the server\n"
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)
    server_log = (folder / "deployment" / "logs" / "stdout.log").read_text()
    assert "GET /hello.txt" in server_log
    assert "server says: greetings from .env" in server_log


def test_a_broken_server_fails_the_job_naming_the_deployment(tmp_path, inv):
    config = write_config(
        tmp_path,
        [{"name": "t", "container": BASE_IMAGE, "command": "echo should-not-run"}],
        deployment={
            "type": "docker",
            "image": BASE_IMAGE,
            "port": free_port(),
            "command": "echo 'model file is corrupt' >&2; exit 3",
            "startup_timeout": 30,
        },
        target={"api_endpoint": {"model_id": "m"}},
    )
    started = time.monotonic()
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    exit_marker = folder / "t" / "logs" / "stage.exit"
    wait_for(exit_marker.exists, timeout=60)
    assert time.monotonic() - started < 30
    assert exit_marker.read_text().split()[1:] == ["1", "deployment-failed"]
    log = (folder / "t" / "logs" / "stdout.log").read_text()
    assert "deployment" in log and "model file is corrupt" in log
    assert "should-not-run" not in log
    assert not (folder / "t" / "logs" / "stage.running").exists()
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)


def test_a_server_that_never_answers_fails_within_the_startup_timeout(tmp_path, inv):
    config = write_config(
        tmp_path,
        [{"name": "t", "container": BASE_IMAGE, "command": "true"}],
        deployment={
            "type": "docker",
            "image": BASE_IMAGE,
            "port": free_port(),
            "command": "echo 'loading forever'; exec sleep 600",
            "startup_timeout": 5,
        },
        target={"api_endpoint": {"model_id": "m"}},
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    wait_for((folder / "t" / "logs" / "stage.exit").exists, timeout=40)
    log = (folder / "t" / "logs" / "stdout.log").read_text()
    assert "did not become healthy within 5" in log and "loading forever" in log
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)


MODELS = (
    'python3 -c "import urllib.request as u; '
    "print(u.urlopen('http://127.0.0.1:{port}/v1/models').read().decode())\" "
    "> /results/models.json"
)


def test_port_alone_reaches_the_built_in_server_on_the_port_its_image_exposes(tmp_path, inv):
    """`port` alone used to move the container port too, away from the 8000 the llama.cpp
    image listens on (and EXPOSEs), so the job waited out startup_timeout and failed."""
    port = free_port()
    config = write_config(
        tmp_path,
        [{"name": "t", "container": BASE_IMAGE, "command": MODELS.format(port=port)}],
        deployment={"type": "docker", "image": SERVER_LATEST, "port": port, "startup_timeout": 120},
        target={"api_endpoint": {"model_id": "smollm2-135m-instruct"}},
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    exit_marker = folder / "t" / "logs" / "stage.exit"
    wait_for(exit_marker.exists, timeout=150)
    log = (folder / "t" / "logs" / "stdout.log").read_text()
    assert exit_marker.read_text().split()[1] == "0", log
    assert "smollm2-135m-instruct" in (folder / "t" / "artifacts" / "models.json").read_text()
    deploy_log = (folder / "deployment" / "logs" / "deploy.log").read_text()
    assert f"127.0.0.1:{port} -> container port 8000" in deploy_log
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)


def test_a_server_listening_on_another_port_is_named_with_the_port_expected(tmp_path, inv):
    """The container is up but its published port refuses: the job's log says which port
    inside was expected, where the server does listen, and the key to set."""
    port = free_port()
    config = write_config(
        tmp_path,
        [{"name": "t", "container": BASE_IMAGE, "command": "echo should-not-run"}],
        deployment={
            "type": "docker",
            "image": BASE_IMAGE,  # EXPOSEs nothing: the container port defaults to `port`
            "port": port,
            "command": "exec python3 -m http.server 9000",
            "startup_timeout": 6,
        },
        target={"api_endpoint": {"model_id": "m"}},
    )
    assert inv("run", "--config", str(config), cwd=tmp_path).returncode == 0
    folder = invocation_dir(tmp_path)
    inv_id = folder.name.rsplit("-", 1)[1]
    exit_marker = folder / "t" / "logs" / "stage.exit"
    wait_for(exit_marker.exists, timeout=60)
    assert exit_marker.read_text().split()[1:] == ["1", "deployment-failed"]
    log = (folder / "t" / "logs" / "stdout.log").read_text()
    assert "did not become healthy within 6" in log
    assert (
        f"nothing answers on 127.0.0.1:{port}, published to port {port} inside " "proctor-" in log
    ), log
    assert (
        "where the server listens on 9000: set deployment.container_port to the port "
        "the server listens on" in log
    ), log
    assert "should-not-run" not in log
    wait_for(lambda: not proctor_containers(**{"proctor.invocation": inv_id}), timeout=30)
