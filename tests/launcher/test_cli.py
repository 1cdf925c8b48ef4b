"""The command line as a user meets it: `inv --list`, `--help`, and the shipped configs."""

from __future__ import annotations

import re

import pytest

from proctor.launcher.run.launch import prepare
from tests.conftest import ROOT, run_inv

COMMANDS = [
    "compare",
    "export",
    "image",
    "kill",
    "logs",
    "ls",
    "report",
    "rescore",
    "resume",
    "run",
    "status",
    "tasks",
]


def listed_commands() -> dict[str, str]:
    result = run_inv("--list")
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^\s{2}(\w+)\s+(\S.*)$", result.stdout, flags=re.M))


def test_every_command_is_listed_with_a_one_line_description():
    listed = listed_commands()
    assert sorted(listed) == COMMANDS
    assert all(len(text) > 10 for text in listed.values())


def test_help_and_h_after_every_listed_command_print_its_help(tmp_path):
    """`inv CMD --help` and `inv CMD -h` for every task `inv --list` shows, from a folder
    with no outputs/: a flag swallowed as the optional id would fail with 'no invocations'."""
    failures = []
    for command in listed_commands():
        for flag in ("--help", "-h"):
            result = run_inv(command, flag, cwd=tmp_path)
            seen = result.stdout.splitlines()[:1] + result.stderr.splitlines()[:1]
            if (
                result.returncode != 0
                or not result.stdout.startswith(f"Usage: inv[oke] [--core-opts] {command} ")
                or "Docstring:" not in result.stdout
                or result.stderr
            ):
                failures.append(f"inv {command} {flag}: exit {result.returncode}, {seen}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "outputs").exists()


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
