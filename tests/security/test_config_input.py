"""Hostile or mistaken configs (issue 12, classes 3, 5, 6, 7, 10): each is refused with one
line naming the file, key or value, nothing is started, and a pasted secret is never
printed (at most a four-character prefix).

Every input is loaded in-process through config.load (what `inv run` calls first);
a sample of them also goes through `inv run` to check the exit code and that no
folder is made and no traceback printed.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.launcher import config, envfile
from proctor.launcher.errors import ProctorError
from tests.conftest import ROOT

SECRET = "sk-proj-" + secrets.token_hex(20)
HF = "hf_" + secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")
GHP = "ghp_" + secrets.token_hex(18)
RANDOM = "Ab3" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "Q")


def base(tmp_path: Path) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "qa.jsonl").write_text('{"id": "a", "input": "1+1?", "target": "2"}\n')
    return {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:8000/v1", "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "jsonl", "dataset_dir": str(data)}]},
        "execution": {"output_dir": str(tmp_path / "outputs")},
    }


def refused(path: Path, *fragments: str, secret: str | None = None) -> str:
    with pytest.raises(ProctorError) as e:
        config.load(path)
    message = str(e.value)
    assert "\n" not in message and message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    if secret:
        assert secret not in message and secret[4:12] not in message, message
    return message


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- class 3: pasted secrets -------------------------------------------------------------

PASTED = [SECRET, HF, GHP, RANDOM, "Bearer " + SECRET, "nvapi-" + secrets.token_hex(20)]


@pytest.mark.parametrize("value", PASTED)
@pytest.mark.parametrize(
    "where",
    ["api_key_name", "evaluation.env_vars", "task.env_vars", "deployment.env_vars", "env_key"],
)
def test_a_pasted_secret_is_refused_without_being_printed(tmp_path, value, where):
    data = base(tmp_path)
    if where == "api_key_name":
        data["target"]["api_endpoint"]["api_key_name"] = value
    elif where == "evaluation.env_vars":
        data["evaluation"]["env_vars"] = {"HF_TOKEN": value}
    elif where == "task.env_vars":
        data["evaluation"]["tasks"][0]["env_vars"] = {"HF_TOKEN": value}
    elif where == "deployment.env_vars":
        data["deployment"] = {"type": "docker", "env_vars": {"HF_TOKEN": value}}
    else:
        data["evaluation"]["env_vars"] = {value: "HF_TOKEN"}
    message = refused(write(tmp_path, data), secret=value)
    assert "never in the config" in message


def test_a_pasted_secret_in_an_override_is_not_printed(tmp_path):
    path = write(tmp_path, base(tmp_path))
    with pytest.raises(ProctorError) as e:
        config.load(path, [f"target.api_endpoint.api_key_name={SECRET}"])
    assert SECRET not in str(e.value) and "sk-p..." in str(e.value)


def test_variable_names_are_still_accepted(tmp_path):
    data = base(tmp_path)
    data["target"]["api_endpoint"]["api_key_name"] = "OPENAI_API_KEY"
    data["evaluation"]["env_vars"] = {"HF_TOKEN": "MY_HF_TOKEN_2", "hf_home": "HF_HOME"}
    assert config.load(write(tmp_path, data)).target.api_endpoint.api_key_name == "OPENAI_API_KEY"


CREDENTIAL_URLS = [
    f"https://user:{SECRET}@api.example.com/v1",
    f"https://{SECRET}@api.example.com/v1",
    f"https://api.example.com/v1?key={SECRET}",
    f"https://api.example.com/v1?api-key={SECRET}",
    f"https://api.example.com/v1?x=1&token={SECRET}",
    f"https://api.example.com/v1?API_KEY={SECRET}",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_credentials_in_the_url_are_refused_and_never_written(tmp_path, url):
    data = base(tmp_path)
    data["target"]["api_endpoint"]["url"] = url
    message = refused(write(tmp_path, data), "api_key_name", secret=SECRET)
    assert "target.api_endpoint.url" in message
    assert not (tmp_path / "outputs").exists()


# -- class 5: unreadable files and values a parser must check ------------------------------

BAD_URLS = [
    ("http://127.0.0.1:80a0/v1", "port"),
    ("http://127.0.0.1:99999/v1", "port"),
    ("http://exa mple.com/v1", "spaces"),
    ("http://example.com/v1\n", "control"),
    ("http://exa\x1bmple.com/v1", "control"),
    ("http://ex!ample.com/v1", "host"),
    ("http://[::zz]:8000/v1", "IPv6"),
    ("ftp://example.com/v1", "http(s)"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD_URLS)
def test_urls_are_checked_by_a_parser_at_config_time(tmp_path, url, fragment):
    data = base(tmp_path)
    data["target"]["api_endpoint"]["url"] = url
    refused(write(tmp_path, data), fragment, "target.api_endpoint.url")


YAML_ATTACKS = [
    (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
            for i in range(8)
        )
        + "target: *i\n",
        "alias",
    ),
    ("target: {}\ntarget: {}\nevaluation: {}\n", "duplicate key 'target' on line 2"),
    ("evaluation:\n  tasks: []\n  params: {}\n  tasks: [x]\n", "duplicate key 'tasks' on line 4"),
    ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
]


@pytest.mark.parametrize(("text", "fragment"), YAML_ATTACKS)
def test_yaml_bombs_and_duplicate_keys_are_refused(tmp_path, text, fragment):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    refused(path, fragment)


def test_a_merge_key_is_not_a_duplicate(tmp_path):
    data = base(tmp_path)
    text = yaml.safe_dump(data, sort_keys=False)
    text = "defaults: &d {model_id: m}\n" + text.replace("    model_id: m\n", "    <<: *d\n")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ProctorError, match="unknown key 'defaults'"):
        config.load(path)  # the merge itself was accepted; the extra key is the only error


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p.write_bytes(b"target:\n  x: \xff\xfe\n"), "not UTF-8"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.symlink_to(p.parent / "nowhere" / "config.yaml"), "not found"),
        (lambda p: p.symlink_to("/dev/null/x"), "not found"),
    ],
)
def test_unreadable_config_files(tmp_path, make, fragment):
    path = tmp_path / "config.yaml"
    make(path)
    refused(path, fragment)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"KEY=\xff\xfe\n"), "not UTF-8"),
    ],
)
def test_unusable_env_files(tmp_path, make, fragment):
    make(tmp_path / ".env")
    with pytest.raises(ProctorError, match=fragment):
        envfile.locate(None, tmp_path)
    with pytest.raises(ProctorError, match=fragment):
        envfile.locate(".env", tmp_path)


def test_a_container_with_data_but_no_command_is_refused(tmp_path):
    data = base(tmp_path)
    data["evaluation"]["tasks"][0].update(name="mine", container="my-image:1")
    refused(write(tmp_path, data), "container and a dataset_dir but no command")


# -- class 6: numbers ----------------------------------------------------------------------

BAD_NUMBERS = [
    ("evaluation.params.request_timeout", ".inf"),
    ("evaluation.params.request_timeout", "1e308"),
    ("evaluation.params.request_timeout", ".nan"),
    ("evaluation.params.temperature", ".inf"),
    ("evaluation.params.temperature", ".nan"),
    ("evaluation.params.top_p", ".nan"),
    ("evaluation.params.max_error_rate", ".nan"),
    ("evaluation.params.n_repeats", "1000000000"),
    ("evaluation.params.max_tokens", "1e30"),
    ("evaluation.params.limit_samples", ".inf"),
    ("evaluation.params.seed", str(2**70)),
    ("evaluation.params.max_response_bytes", str(2**40)),
    ("deployment.startup_timeout", ".inf"),
    ("deployment.startup_timeout", "1e12"),
    ("deployment.startup_timeout", ".nan"),
]


@pytest.mark.parametrize(("key", "value"), BAD_NUMBERS)
def test_numbers_must_be_finite_and_bounded(tmp_path, key, value):
    data = base(tmp_path)
    if key.startswith("deployment"):
        data["deployment"] = {"type": "docker"}
    path = write(tmp_path, data)
    with pytest.raises(ProctorError) as e:
        config.load(path, [f"{key}={value}"])
    assert "\n" not in str(e.value) and key.rsplit(".", 1)[1] in str(e.value), str(e.value)


@pytest.mark.parametrize("grace", ["nan", "inf", "-1", "1e9", "x"])
def test_kill_grace_must_be_a_finite_number(tmp_path, inv, grace):
    result = inv("kill", "deadbeef", "--grace", grace, "--outputs", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result
    assert result.stderr.strip().count("\n") == 0 and "--grace" in result.stderr
    assert "Traceback" not in result.stderr


# -- class 7: task folders -------------------------------------------------------------------

CLASHES = [
    (["gsm8k", "gsm8k", "gsm8k.1"], "share the folder 'gsm8k.1'"),
    (["mine", "Mine"], "share the folder"),
    (["deployment"], "of the invocation itself"),
    (["invocation.yaml"], "of the invocation itself"),
    (["report.html"], "of the invocation itself"),
    (["run_all.sh"], "of the invocation itself"),
    (["logs"], "of the invocation itself"),
    (["../up"], "may hold only"),
    (["gsm8k\n"], "may hold only"),
    ([".hidden"], "may hold only"),
]


@pytest.mark.parametrize(("names", "fragment"), CLASHES)
def test_task_folders_never_collide(tmp_path, names, fragment):
    data = base(tmp_path)
    data["evaluation"]["tasks"] = [{"name": n, "command": "true"} for n in names]
    refused(write(tmp_path, data), fragment)


# -- through `inv run`: exit code, one line, nothing made ------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["target"]["api_endpoint"].update(api_key_name=SECRET),
        lambda d: d["target"]["api_endpoint"].update(url=CREDENTIAL_URLS[0]),
        lambda d: d["target"]["api_endpoint"].update(url="http://h:port/v1"),
        lambda d: d["evaluation"]["tasks"].append({"name": "gsm8k\n", "command": "true"}),
        lambda d: d["evaluation"].update(params={"temperature": float("inf")}),
    ],
)
def test_inv_run_refuses_in_one_line_and_starts_nothing(tmp_path, inv, change):
    data = base(tmp_path)
    change(data)
    path = write(tmp_path, data)
    result = inv("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("proctor: "), result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "outputs").exists()


# -- class 10: shipped examples ------------------------------------------------------------


def test_shipped_configs_put_no_key_on_a_command_line():
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        text = path.read_text()
        assert "--api-key" not in text and "--token" not in text, path
    assert "VLLM_API_KEY" in (ROOT / "configs" / "vllm.yaml").read_text()
