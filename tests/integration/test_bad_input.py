"""The bad-input corpus: every mistake gives one clear line naming the file, key or value,
a non-zero exit, no invocation folder, and no container."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.endpoint import FakeEndpoint
from tests.integration.helpers import BASE_IMAGE, proctor_containers

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def endpoint():
    with FakeEndpoint() as ep:
        yield ep


@pytest.fixture(autouse=True)
def no_new_containers(tmp_path):
    """No container was made for this test's files (others may run tests beside us)."""
    before = {c["ID"] for c in proctor_containers()}
    yield
    new = [c["ID"] for c in proctor_containers() if c["ID"] not in before]
    if new:
        inspect = subprocess.run(["docker", "inspect", *new], capture_output=True, text=True)
        sources = [m["Source"] for c in json.loads(inspect.stdout or "[]") for m in c["Mounts"]]
        assert not [s for s in sources if s.startswith(str(tmp_path))]


def base(tmp_path: Path, url: str) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "qa.jsonl").write_text('{"id": "a", "input": "1+1?", "target": "2"}\n')
    return {
        "target": {"api_endpoint": {"url": url, "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "jsonl", "dataset_dir": str(data)}]},
        "execution": {"output_dir": str(tmp_path / "outputs")},
    }


def check_refused(result, tmp_path: Path, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("proctor: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir())


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value


DELETE = object()

# (case id, {dotted path: value} applied to a good config, fragments of the one-line error)
CONFIG_CASES = [
    ("unknown-top-level-key", {"evalution": {}}, ["unknown key 'evalution'", "'evaluation'"]),
    ("unknown-key", {"execution.moed": "parallel"}, ["execution.moed", "did you mean 'mode'"]),
    (
        "unknown-param",
        {"evaluation.params.temprature": 0},
        ["evaluation.params.temprature", "did you mean 'temperature'"],
    ),
    (
        "unknown-endpoint-key",
        {"target.api_endpoint.api_kye_name": "K"},
        ["did you mean 'api_key_name'"],
    ),
    ("wrong-type", {"execution.max_parallel": "many"}, ["execution.max_parallel", "'many'"]),
    (
        "wrong-param-type",
        {"evaluation.params.temperature": "hot"},
        ["evaluation.params.temperature", "'hot'"],
    ),
    ("bad-mode", {"execution.mode": "fast"}, ["execution.mode", "'fast'"]),
    ("bad-endpoint-type", {"target.api_endpoint.type": "chat2"}, ["target.api_endpoint.type"]),
    ("missing-endpoint", {"target": DELETE}, ["missing required key 'target'"]),
    (
        "missing-model-id",
        {"target.api_endpoint.model_id": DELETE},
        ["missing required key 'target.api_endpoint.model_id'"],
    ),
    (
        "typo-hides-a-required-key",
        {"target.api_endpoint.model_id": DELETE, "target.api_endpoint.modle_id": "m"},
        ["unknown key 'target.api_endpoint.modle_id' (did you mean 'model_id'?); missing"],
    ),
    ("missing-url", {"target.api_endpoint.url": DELETE}, ["target.api_endpoint.url is required"]),
    ("malformed-url", {"target.api_endpoint.url": "127.0.0.1:8000/v1"}, ["not an http(s) URL"]),
    (
        "unknown-benchmark",
        {"evaluation.tasks.0.name": "gsm9k"},
        ["unknown benchmark 'gsm9k'", "did you mean 'gsm8k'"],
    ),
    ("no-tasks", {"evaluation.tasks": []}, ["evaluation.tasks"]),
    (
        "secret-in-env-vars",
        {"evaluation.env_vars": {"HF_TOKEN": "hf_live-abc123"}},
        ["NAME of an environment variable"],
    ),
    ("negative-limit", {"evaluation.params.limit_samples": -5}, ["limit_samples"]),
    ("zero-limit", {"evaluation.params.limit_samples": 0}, ["limit_samples"]),
    ("parallelism-0", {"evaluation.params.parallelism": 0}, ["parallelism", "greater than"]),
    ("error-rate-over-1", {"evaluation.params.max_error_rate": 1.5}, ["max_error_rate"]),
    (
        "negative-repeats",
        {"evaluation.tasks.0.params.n_repeats": -1},
        ["evaluation.tasks.jsonl.params.n_repeats"],
    ),
    ("unknown-deployment", {"deployment": {"type": "k8s"}}, ["deployment", "'k8s'"]),
    ("bad-mount", {"deployment": {"type": "docker", "mounts": ["nocolon"]}}, ["HOST_PATH"]),
    (
        "network-conflict",
        {"execution.network": "bridge"},
        ["execution.network is bridge", "loopback"],
    ),
    (
        "dataset-dir-missing",
        {"evaluation.tasks.0.dataset_dir": "/nonexistent/proctor-data"},
        ["dataset_dir", "no such directory"],
    ),
    (
        "dataset-file-missing",
        {"evaluation.tasks.0.params": {"extra": {"file": "nope.jsonl"}}},
        ["nope.jsonl not found"],
    ),
    ("bad-scorer", {"evaluation.tasks.0.params": {"extra": {"scorer": "vibes"}}}, ["vibes"]),
    (
        "image-missing",
        {"execution.image": "proctor-no-such-image:0"},
        ["proctor-no-such-image:0 not found", "inv image"],
    ),
    (
        "unwritable-output-dir",
        {"execution.output_dir": "/proc/proctor-outputs"},
        ["execution.output_dir", "writable folder"],
    ),
]


@pytest.mark.parametrize(
    "changes,fragments", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_config(tmp_path, inv, endpoint, changes, fragments):
    data = base(tmp_path, endpoint.chat_url)
    for dotted, value in changes.items():
        set_path(data, dotted, value)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    check_refused(inv("run", "--config", str(config), cwd=tmp_path), tmp_path, *fragments)


DATA_CASES = [
    (
        "malformed-jsonl-line",
        '{"id": "a", "input": "x", "target": "y"}\n{"id": "b", "inp\n',
        ["qa.jsonl:2", "malformed JSON"],
    ),
    (
        "duplicate-id",
        '{"id": "a", "input": "x", "target": "y"}\n' '{"id": "a", "input": "z", "target": "w"}\n',
        ["qa.jsonl:2", "duplicate id 'a'"],
    ),
    ("missing-field", '{"id": "a", "input": "x"}\n', ["qa.jsonl:1", "target"]),
    ("empty-dataset", "", ["qa.jsonl"]),
]


@pytest.mark.parametrize(
    "text,fragments", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_bad_dataset(tmp_path, inv, endpoint, text, fragments):
    data = base(tmp_path, endpoint.chat_url)
    data["evaluation"]["tasks"][0]["params"] = {"extra": {"id_field": "id"}}
    (tmp_path / "data" / "qa.jsonl").write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    check_refused(inv("run", "--config", str(config), cwd=tmp_path), tmp_path, *fragments)


def good_config(tmp_path: Path, url: str, **changes: Any) -> Path:
    data = base(tmp_path, url)
    for dotted, value in changes.items():
        set_path(data, dotted, value)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


def test_missing_config(tmp_path, inv):
    check_refused(
        inv("run", "--config", str(tmp_path / "nope.yaml")),
        tmp_path,
        "config file not found",
        "nope.yaml",
    )


def test_no_config_given(tmp_path, inv):
    check_refused(inv("run"), tmp_path, "--config")


@pytest.mark.parametrize(
    "text,where",
    [
        ("target:\n  api_endpoint: {url: x\nevaluation:\n", "line"),
        ("target:\n\tapi_endpoint: {}\n", "line 2"),
        ("- just\n- a list\n", "top level must be a mapping"),
    ],
    ids=["unclosed-flow", "tab-indent", "not-a-mapping"],
)
def test_yaml_errors(tmp_path, inv, text, where):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    check_refused(inv("run", "--config", str(bad)), tmp_path, "bad.yaml", where)


def test_empty_config_file(tmp_path, inv):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    check_refused(inv("run", "--config", str(empty)), tmp_path, "missing required key 'target'")


@pytest.mark.parametrize(
    "item,fragment",
    [
        ("execution.mode", "malformed override"),
        ("=3", "malformed override"),
        ("evaluation.tasks.nope.params.x=1", "no item named 'nope'"),
        ("evaluation.tasks.7.name=x", "no index 7"),
        ("target.api_endpoint.url.host=x", "is a value"),
    ],
    ids=["no-equals", "no-key", "missing-task", "missing-index", "through-a-value"],
)
def test_bad_override(tmp_path, inv, endpoint, item, fragment):
    config = good_config(tmp_path, endpoint.chat_url)
    check_refused(inv("run", "--config", str(config), "-o", item), tmp_path, fragment)


def test_unknown_task(tmp_path, inv, endpoint):
    config = good_config(tmp_path, endpoint.chat_url)
    check_refused(
        inv("run", "--config", str(config), "--task", "nope"),
        tmp_path,
        "unknown --task 'nope'",
        "has jsonl",
    )


@pytest.mark.parametrize("where", ["api_key_name", "env_vars"])
def test_unset_variable(tmp_path, inv, endpoint, where):
    key = (
        "target.api_endpoint.api_key_name"
        if where == "api_key_name"
        else "evaluation.tasks.0.env_vars"
    )
    value = "PROCTOR_UNSET_KEY" if where == "api_key_name" else {"X": "PROCTOR_UNSET_KEY"}
    config = good_config(tmp_path, endpoint.chat_url, **{key: value})
    check_refused(
        inv("run", "--config", str(config), env={"PROCTOR_UNSET_KEY": ""}, cwd=tmp_path),
        tmp_path,
        "PROCTOR_UNSET_KEY is not set",
    )


def test_env_file_missing(tmp_path, inv, endpoint):
    config = good_config(tmp_path, endpoint.chat_url)
    check_refused(
        inv("run", "--config", str(config), "--env-file", "nope.env", cwd=tmp_path),
        tmp_path,
        "env file not found: nope.env",
    )


def test_output_dir_under_a_file(tmp_path, inv, endpoint):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = good_config(
        tmp_path, endpoint.chat_url, **{"execution.output_dir": str(blocker / "outputs")}
    )
    check_refused(inv("run", "--config", str(config)), tmp_path, "execution.output_dir")
    assert blocker.read_text() == ""


def test_docker_unreachable(tmp_path, inv, endpoint):
    config = good_config(tmp_path, endpoint.chat_url)
    result = inv(
        "run", "--config", str(config), env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    )
    check_refused(result, tmp_path, "cannot reach the Docker daemon")


def test_endpoint_unreachable_at_preflight(tmp_path, inv):
    from tests.integration.helpers import free_port

    config = good_config(tmp_path, f"http://127.0.0.1:{free_port()}/v1/chat/completions")
    check_refused(
        inv("run", "--config", str(config)), tmp_path, "is unreachable", "target.api_endpoint.url"
    )


def test_custom_image_missing(tmp_path, inv, endpoint):
    config = good_config(
        tmp_path,
        endpoint.chat_url,
        **{
            "evaluation.tasks": [
                {"name": "t", "container": "proctor-no-such-image:1", "command": "true"}
            ]
        },
    )
    check_refused(inv("run", "--config", str(config)), tmp_path, "proctor-no-such-image:1")


def test_a_good_config_is_accepted_by_dry_run(tmp_path, inv, endpoint):
    """The corpus's base config is itself valid, so each case fails for its own reason."""
    config = good_config(tmp_path, endpoint.chat_url)
    result = inv("run", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert BASE_IMAGE  # the module's containers check covers every case above
