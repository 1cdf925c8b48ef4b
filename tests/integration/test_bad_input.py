"""Every mistake: one clear line, non-zero exit, no folder, no container."""

from __future__ import annotations

import pytest

from tests.integration.helpers import BASE_IMAGE, proctor_containers, write_config

pytestmark = pytest.mark.docker

TASK = [{"name": "t", "container": BASE_IMAGE, "command": "true"}]


def check_refused(result, tmp_path, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir())


@pytest.fixture(autouse=True)
def no_new_containers():
    before = {c["ID"] for c in proctor_containers()}
    yield
    assert {c["ID"] for c in proctor_containers()} <= before


def test_missing_config(tmp_path, inv):
    check_refused(
        inv("run", "--config", str(tmp_path / "nope.yaml")),
        tmp_path,
        "config file not found",
        "nope.yaml",
    )


def test_yaml_syntax_error(tmp_path, inv):
    bad = tmp_path / "bad.yaml"
    bad.write_text("target:\n  api_endpoint: {url: x\nevaluation:\n")
    check_refused(inv("run", "--config", str(bad)), tmp_path, "bad.yaml", "line")


def test_unknown_key(tmp_path, inv):
    config = write_config(tmp_path, TASK, execution={"moed": "parallel"})
    check_refused(
        inv("run", "--config", str(config)), tmp_path, "execution.moed", "did you mean 'mode'"
    )


def test_wrong_type(tmp_path, inv):
    config = write_config(tmp_path, TASK, execution={"max_parallel": "many"})
    check_refused(inv("run", "--config", str(config)), tmp_path, "execution.max_parallel")


def test_malformed_override(tmp_path, inv):
    config = write_config(tmp_path, TASK)
    check_refused(
        inv("run", "--config", str(config), "-o", "execution.mode"), tmp_path, "malformed override"
    )


def test_override_of_a_missing_path(tmp_path, inv):
    config = write_config(tmp_path, TASK)
    check_refused(
        inv("run", "--config", str(config), "-o", "evaluation.tasks.nope.params.x=1"),
        tmp_path,
        "no item named 'nope'",
    )


def test_unknown_task(tmp_path, inv):
    config = write_config(tmp_path, TASK)
    check_refused(
        inv("run", "--config", str(config), "--task", "nope"),
        tmp_path,
        "unknown --task 'nope'",
        "has t",
    )


@pytest.mark.parametrize("where", ["api_key_name", "env_vars"])
def test_unset_variable(tmp_path, inv, where):
    if where == "api_key_name":
        config = write_config(
            tmp_path,
            TASK,
            target={
                "api_endpoint": {
                    "url": "http://127.0.0.1:9/v1",
                    "model_id": "m",
                    "api_key_name": "PROCTOR_UNSET_KEY",
                }
            },
        )
    else:
        config = write_config(tmp_path, [{**TASK[0], "env_vars": {"X": "PROCTOR_UNSET_KEY"}}])
    check_refused(
        inv("run", "--config", str(config), env={"PROCTOR_UNSET_KEY": ""}, cwd=tmp_path),
        tmp_path,
        "PROCTOR_UNSET_KEY is not set",
    )


def test_output_dir_not_writable(tmp_path, inv):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = write_config(tmp_path, TASK, execution={"output_dir": str(blocker / "outputs")})
    check_refused(inv("run", "--config", str(config)), tmp_path, "execution.output_dir", "writable")


def test_docker_unreachable(tmp_path, inv):
    config = write_config(tmp_path, TASK)
    result = inv(
        "run", "--config", str(config), env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    )
    check_refused(result, tmp_path, "cannot reach the Docker daemon")


def test_image_missing(tmp_path, inv):
    config = write_config(tmp_path, [{**TASK[0], "container": "proctor-no-such-image:0"}])
    check_refused(
        inv("run", "--config", str(config)), tmp_path, "proctor-no-such-image:0 not found"
    )
