"""Secrets by name: .env never overrides the environment; values only go through a pipe."""

from __future__ import annotations

import pytest

from proctor.launcher import envfile
from proctor.launcher.errors import ProctorError


def test_env_file_never_overrides_the_environment(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("A=from-file\nB='quoted # not a comment'\nexport C=exported\n")
    monkeypatch.setenv("A", "from-env")
    monkeypatch.delenv("B", raising=False)
    env = envfile.environment(path)
    assert env["A"] == "from-env"
    assert env["B"] == "quoted # not a comment"
    assert env["C"] == "exported"


def test_locate_defaults_to_dot_env_when_present(tmp_path):
    assert envfile.locate(None, tmp_path) is None
    (tmp_path / ".env").write_text("X=1\n")
    assert envfile.locate(None, tmp_path) == (tmp_path / ".env").resolve()
    with pytest.raises(ProctorError, match="env file not found: missing.env"):
        envfile.locate("missing.env", tmp_path)


def test_require_names_the_variable_and_the_file(tmp_path):
    with pytest.raises(ProctorError, match=r"KEY is not set: add it to .*\.env"):
        envfile.require(["KEY"], {"KEY": ""}, tmp_path / ".env")


def test_export_lines_quote_values_and_skip_set_variables(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text('K1="it\'s $(id)"\nK2=two\n')
    monkeypatch.setenv("K2", "already")
    monkeypatch.delenv("K1", raising=False)
    lines = envfile.export_lines(path, ["K1", "K2", "K3"])
    assert lines == "export K1='it'\"'\"'s $(id)'"
