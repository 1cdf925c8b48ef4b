"""The harness image's build context and its hash, without Docker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from proctor.launcher import images
from proctor.launcher.errors import ProctorError
from tests.conftest import ROOT


def _repo_copy(tmp_path: Path) -> Path:
    """The files the harness image is built from, copied so a test may edit them."""
    repo = tmp_path / "repo"
    for rel in ("pyproject.toml", "requirements-data.txt", str(images.DOCKERFILE)):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, repo / rel)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def _hash(repo: Path, tmp_path: Path, name: str, base_id: str = "sha256:base") -> str:
    context = tmp_path / name
    images.assemble_context(repo, context)
    return images.context_hash(context, base_id)


def test_requirements_are_build_requires_plus_the_harness_extra_only():
    reqs = images.harness_requirements(ROOT / "pyproject.toml")
    names = " ".join(reqs).lower()
    assert any(r.startswith("setuptools") for r in reqs)
    assert "pyyaml" in names
    for launcher_only in ("docker", "invoke", "jinja2", "pytest"):
        assert launcher_only not in names
    assert not any(r.startswith("proctor") for r in reqs)


def test_self_references_in_the_extra_are_expanded(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "Proctor"\nversion = "1"\n'
        "[project.optional-dependencies]\n"
        'core = ["pyyaml==6.0.2"]\n'
        'harness = ["proctor[core]", "aiohttp==3.10.10"]\n'
    )
    assert images.harness_requirements(pyproject) == ["pyyaml==6.0.2", "aiohttp==3.10.10"]


def test_a_pyproject_without_a_harness_extra_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "proctor"\nversion = "1"\n')
    with pytest.raises(ProctorError, match="harness"):
        images.harness_requirements(pyproject)


def test_context_holds_the_harness_but_not_the_launcher(tmp_path):
    context = tmp_path / "ctx"
    images.assemble_context(ROOT, context)
    assert (context / "Dockerfile").read_text() == (ROOT / images.DOCKERFILE).read_text()
    assert (context / "src/proctor/harness/taskfile.py").is_file()
    assert not (context / "src/proctor/launcher").exists()
    assert not list(context.rglob("__pycache__"))
    assert (context / "certs").is_dir()


def test_hash_is_stable_and_follows_the_harness_and_the_base(tmp_path):
    repo = _repo_copy(tmp_path)
    first = _hash(repo, tmp_path, "a")
    assert _hash(repo, tmp_path, "b") == first
    assert _hash(repo, tmp_path, "c", base_id="sha256:other") != first

    (repo / "src/proctor/launcher/errors.py").write_text("# launcher edits do not matter\n")
    assert _hash(repo, tmp_path, "d") == first

    taskfile = repo / "src/proctor/harness/taskfile.py"
    taskfile.write_text(taskfile.read_text() + "\n# edited\n")
    assert _hash(repo, tmp_path, "e") != first


def test_hash_ignores_the_ca_bundle(tmp_path):
    context = tmp_path / "ctx"
    images.assemble_context(ROOT, context)
    before = images.context_hash(context, "base")
    (context / images.CONTEXT_CA).write_text("-----BEGIN CERTIFICATE-----\n")
    assert images.context_hash(context, "base") == before


def test_host_only_index_locations_are_not_passed_to_the_build():
    keep = "https://mirror.invalid/simple"
    urls = f"file:///srv/wheels {keep} /srv/other"
    assert images._reachable_from_container(urls) == keep
    assert images._reachable_from_container("file:///srv/wheels") == ""


def test_an_unreachable_daemon_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ProctorError, match="cannot reach the Docker daemon") as err:
        images.ensure_images(ROOT, log=lambda line: None)
    assert "\n" not in str(err.value)


def test_a_missing_docker_command_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProctorError, match="install Docker Engine"):
        images.ensure_images(ROOT, log=lambda line: None)


def test_inv_run_names_a_harness_image_built_from_other_sources(tmp_path):
    """The image carries its sources' hash; a checkout edited since `inv image` is named
    (an old image would otherwise run the old code, silently)."""
    from proctor.launcher.executors.local import stale_harness

    repo = _repo_copy(tmp_path)
    built = images.source_hash(repo)
    ref = f"{images.HARNESS_REPOSITORY}:latest"

    def stale(labels):
        return stale_harness(labels, repo)

    assert stale({ref: {images.SOURCE_LABEL: built}}) is None
    assert stale({ref: {}}) is None  # built before images carried the label: cannot tell
    assert stale({"mine:1": {images.SOURCE_LABEL: "0" * 64}}) is None

    taskfile = repo / "src/proctor/harness/taskfile.py"
    taskfile.write_text(taskfile.read_text() + "\n# edited\n")
    said = stale({ref: {images.SOURCE_LABEL: built}})
    assert said is not None and ref in said and "inv image" in said
    (repo / "src/proctor/launcher/errors.py").write_text("# launcher edits do not matter\n")
    assert images.source_hash(repo) != built  # still the harness edit
    taskfile.write_text(taskfile.read_text().replace("\n# edited\n", ""))
    assert stale({ref: {images.SOURCE_LABEL: built}}) is None
