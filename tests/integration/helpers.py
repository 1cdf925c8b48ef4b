"""Helpers for integration tests that drive `inv` against a real Docker Engine."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

BASE_IMAGE = "proctor-base:bookworm"


def write_config(tmp_path: Path, tasks: list[dict[str, Any]], **sections: Any) -> Path:
    data: dict[str, Any] = {
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "test-model"}},
        "evaluation": {"tasks": tasks},
        "execution": {"output_dir": str(tmp_path / "outputs")},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invocation_dir(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "outputs").iterdir()
    return folder


def wait_for(predicate, timeout: float = 60, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def proctor_containers(**labels: str) -> list[dict[str, Any]]:
    """Every container (running or not) with the proctor labels, via the docker CLI."""
    args = ["docker", "ps", "-a", "--format", "{{json .}}", "--filter", "label=proctor.invocation"]
    for key, value in labels.items():
        args += ["--filter", f"label={key}={value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def all_text_under(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
