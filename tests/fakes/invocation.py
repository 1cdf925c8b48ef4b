"""A finished invocation folder written directly, as `inv run` and the harness leave it.

For report, compare and HTML tests: no Docker, no model. Each task is a list of sample
lines (``sample(...)``); results.json is computed from them with the harness's own
metrics code, so the numbers agree with what a real run would write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from proctor.harness.metrics import Tally, report

STAMP = "20260102-030405"


def sample(
    ident: str,
    score: float | None,
    *,
    repeat: int = 0,
    prompt: str | None = None,
    response: str = "The answer is 4.",
    target: Any = "4",
    extracted: Any = "4",
    error: str | None = None,
    metric: str = "accuracy",
) -> dict[str, Any]:
    """One journal line: scored with ``{metric: score}``, or an error when score is None."""
    scored = score is not None
    return {
        "id": ident,
        "repeat": repeat,
        "config_hash": "0" * 16,
        "status": "scored" if scored else "error",
        "prompt": [{"role": "user", "content": prompt or f"Question {ident}: what is 2 + 2?"}],
        "response": response if scored else None,
        "reasoning": None,
        "finish_reason": "stop" if scored else None,
        "usage": {"prompt_tokens": 12, "completion_tokens": 5} if scored else None,
        "latency_s": 0.25 if scored else None,
        "attempts": 1 if scored else 6,
        "target": target,
        "extracted": extracted if scored else None,
        "scores": {metric: score} if scored else {},
        "error": None if scored else (error or "connection: refused"),
        "time": "2026-01-02T03:04:06.000Z",
    }


def make_invocation(
    outputs: Path,
    inv_id: str,
    tasks: dict[str, list[dict[str, Any]]],
    *,
    model_id: str = "test-model",
    params: dict[str, Any] | None = None,
    stamp: str = STAMP,
    task_params: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write ``outputs/<stamp>-<inv_id>/`` with one finished job per task; return the folder."""
    folder = outputs / f"{stamp}-{inv_id}"
    folder.mkdir(parents=True)
    jobs = []
    for index, (task, lines) in enumerate(tasks.items()):
        task_dir = folder / task
        (task_dir / "artifacts").mkdir(parents=True)
        (task_dir / "logs").mkdir()
        merged = {"limit_samples": None, "temperature": 0.0, "seed": 1234, "parallelism": 8}
        merged.update(params or {})
        merged.update((task_params or {}).get(task, {}))
        spec = {
            "schema_version": 1,
            "name": task,
            "benchmark": task,
            "endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": model_id, "type": "chat"},
            "params": merged,
            "dataset_dir": None,
        }
        (task_dir / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        tally = Tally()
        for line in lines:
            usage = line.get("usage") or {}
            tally.add(
                line["status"],
                line["scores"],
                usage.get("prompt_tokens"),
                usage.get("completion_tokens"),
                line["latency_s"],
            )
        results = {
            "schema_version": 1,
            "task": task,
            "benchmark": task,
            "model_id": model_id,
            "config_hash": "0" * 16,
            "harness_version": "0.1.0",
            "status": "ok",
            "max_error_rate": 0.5,
            **report(tally, total=len(lines)),
            "timing": {
                "started_at": "2026-01-02T03:04:05.000Z",
                "finished_at": "2026-01-02T03:04:35.000Z",
                "wall_s": 30.0,
            },
        }
        artifacts = task_dir / "artifacts"
        (artifacts / "results.json").write_text(json.dumps(results, indent=2))
        (artifacts / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        (task_dir / "logs" / "stage.pre-start").write_text("2026-01-02T03:04:05Z\n")
        (task_dir / "logs" / "stage.running").write_text("2026-01-02T03:04:05Z\n")
        (task_dir / "logs" / "stage.exit").write_text("2026-01-02T03:04:36Z 0\n")
        jobs.append({"id": f"{inv_id}.{index}", "index": index, "task": task, "benchmark": task})
    record = {
        "schema_version": 1,
        "id": inv_id,
        "created": "2026-01-02T03:04:05+00:00",
        "config": {"target": {"api_endpoint": {"model_id": model_id}}},
        "jobs": jobs,
    }
    (folder / "invocation.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    return folder
