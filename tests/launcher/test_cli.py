"""The command line as a user meets it: `inv --list`, `--help`, and the shipped configs."""

from __future__ import annotations

import re

import pytest

from proctor.launcher.launch import prepare
from tests.conftest import ROOT, run_inv

COMMANDS = ["compare", "image", "kill", "logs", "ls", "report", "resume", "run", "status", "tasks"]


def test_every_command_is_listed_with_a_one_line_description():
    result = run_inv("--list")
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^\s{2}(\w+)\s+(\S.*)$", result.stdout, flags=re.M))
    assert sorted(listed) == COMMANDS
    assert all(len(text) > 10 for text in listed.values())


@pytest.mark.parametrize("command", COMMANDS)
def test_help_documents_every_flag(command):
    result = run_inv("--help", command)
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("Options:")[1] if "Options:" in result.stdout else ""
    for line in options.splitlines():
        if line.strip().startswith("-"):
            flag, _, text = line.strip().partition("  ")
            assert text.strip(), f"inv {command}: {flag} has no help text"


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")))
def test_shipped_configs_are_valid(name, monkeypatch, tmp_path):
    for key in ("NVIDIA_API_KEY", "OPENAI_API_KEY", "VLLM_API_KEY"):
        monkeypatch.setenv(key, "not-a-real-key")
    plan, files = prepare(str(ROOT / "configs" / f"{name}.yaml"), cwd=tmp_path)
    assert plan.jobs and "run_all.sh" in files
    assert all("not-a-real-key" not in text for text, _ in files.values())
