"""Helpers for integration tests that drive `inv` against a real Docker Engine."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.endpoint import prompt_key

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


def wait_for_drivers(folder: Path, timeout: float = 60) -> None:
    """Wait until every run_all.sh under ``folder`` has exited (it writes report.html last)."""
    for pid_file in folder.rglob("run_all.pid"):
        pid = int(pid_file.read_text().split()[0])
        wait_for(lambda pid=pid: not alive(pid), timeout=timeout)


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's parent may be slow to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def all_text_under(folder: Path) -> str:
    """Every file's text once the invocations under ``folder`` are done writing."""
    wait_for_drivers(folder)
    texts = []
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                texts.append(path.read_text(errors="replace"))
        except FileNotFoundError:
            continue  # a temp file renamed into place between listing and reading
    return "\n".join(texts)


def write_questions(data: Path, n: int) -> Path:
    """``data``/qa.jsonl of n samples whose target is their own input ("question i")."""
    data.mkdir(parents=True, exist_ok=True)
    (data / "qa.jsonl").write_text(
        "".join(
            json.dumps({"input": f"question {i}", "target": f"question {i}"}) + "\n"
            for i in range(n)
        )
    )
    return data


def by_sample_and_repeat(body: dict[str, Any]) -> str:
    """A fake endpoint key: one count per (sample, repeat), as the seed is seed + repeat."""
    return f"{prompt_key(body)}|{body.get('seed')}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
