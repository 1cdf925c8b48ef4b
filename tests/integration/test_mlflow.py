"""Export to MLflow: a real `mlflow server` on 127.0.0.1, read back with MLflow's own client.

The server (PyPI's `mlflow`, the dev extra) keeps its runs in SQLite and serves artifacts
itself, so the export goes through HTTP exactly as to a team's tracking server.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from proctor.launcher.images import HARNESS_LATEST
from tests.conftest import ROOT, run_inv
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.fakes.invocation import make_invocation, sample
from tests.integration.helpers import free_port, write_config, write_questions

SAMPLES = 10


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - open for the server's life
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # cold imports and the schema migrations
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "mlflow server did not start:\n" + (folder / "server.log").read_text()
                    ) from None
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def client(uri: str):
    with warnings.catch_warnings():  # mlflow's own pydantic models warn at import
        warnings.simplefilter("ignore")
        from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str, invocation: str):
    c = client(uri)
    found = c.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    query = f"tags.`proctor.invocation` = '{invocation}'"
    runs = c.search_runs([found.experiment_id], filter_string=query)
    by_task = {run.data.tags["proctor.task"]: run for run in runs}
    assert len(by_task) == len(runs), "two active runs for one task"
    return by_task


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its hash and modification time."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.docker
def test_auto_export_makes_one_run_per_task_and_reexport_never_duplicates(tmp_path, tracking_uri):
    data = write_questions(tmp_path / "data", SAMPLES)
    config = write_config(
        tmp_path,
        [
            {"name": "jsonl", "dataset_dir": str(data)},
            {"name": "jsonl", "dataset_dir": str(data), "params": {"limit_samples": 4}},
        ],
        target={"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "fake-model"}},
        evaluation={"params": {"parallelism": 4, "max_retries": 0, "temperature": 0.0}},
        execution={"image": HARNESS_LATEST, "auto_export": ["mlflow"]},
        export={
            "mlflow": {
                "tracking_uri": tracking_uri,
                "experiment_name": "proctor-test",
                "run_name": "{model}/{task}",
                "tags": {"team": "evals"},
            }
        },
    )

    def answer(body) -> str:  # right for questions 0-5, wrong after
        key = prompt_key(body)
        return key if int(key.rsplit(" ", 1)[1]) < 6 else "no idea"

    with FakeEndpoint(answer=answer) as ep:
        result = run_inv(
            "run",
            "--config",
            str(config),
            "-o",
            f"target.api_endpoint.url={ep.chat_url}",
            "--wait",
            cwd=tmp_path,
            timeout=600,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "outputs").iterdir()
    inv_id = folder.name.rsplit("-", 1)[1]
    assert "export: invocation" in (folder / "run_all.log").read_text()

    runs = runs_of(tracking_uri, "proctor-test", inv_id)
    assert sorted(runs) == ["jsonl.1", "jsonl.2"]
    c = client(tracking_uri)
    for task, n in (("jsonl.1", SAMPLES), ("jsonl.2", 4)):
        run = runs[task]
        results = json.loads((folder / task / "artifacts" / "results.json").read_text())
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"fake-model/{task}"
        assert run.data.tags["team"] == "evals"
        assert run.data.tags["proctor.job"].startswith(f"{inv_id}.")
        assert run.data.params["benchmark"] == "jsonl"
        assert run.data.params["model_id"] == "fake-model"
        assert run.data.params["temperature"] == "0.0"
        assert run.data.params["limit_samples"] == ("4" if n == 4 else "null")
        assert results["metrics"], results
        for name, metric in results["metrics"].items():
            for part in ("value", "stderr", "ci_low", "ci_high", "n"):
                key = name if part == "value" else f"{name}.{part}"
                assert run.data.metrics[key] == pytest.approx(metric[part]), key
        assert run.data.metrics["samples.total"] == n
        assert run.data.metrics["samples.errors"] == 0
        listed = sorted(a.path for a in c.list_artifacts(run.info.run_id))
        assert listed == ["invocation.yaml", "report.html", "results.json"]
        fetched = Path(c.download_artifacts(run.info.run_id, "results.json", str(tmp_path)))
        assert fetched.read_bytes() == (folder / task / "artifacts" / "results.json").read_bytes()
    exact = next(
        iter(json.loads((folder / "jsonl.1" / "artifacts" / "results.json").read_text())["metrics"])
    )
    assert runs["jsonl.1"].data.metrics[exact] == pytest.approx(6 / SAMPLES)

    # The same invocation again: nothing new, each task says so.
    before = snapshot(folder)
    again = run_inv("export", inv_id, "--to", "mlflow", "--outputs", str(tmp_path / "outputs"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged since run") == 2, again.stdout
    assert runs_of(tracking_uri, "proctor-test", inv_id).keys() == runs.keys()
    assert snapshot(folder) == before

    # Results that changed since (as a resume that finished more samples would leave them):
    # the task's run is replaced, never a second one beside it.
    path = folder / "jsonl.2" / "artifacts" / "results.json"
    changed = json.loads(path.read_text())
    metric = next(iter(changed["metrics"]))
    changed["metrics"][metric]["value"] = 0.125
    path.write_text(json.dumps(changed))
    third = run_inv("export", inv_id, "--outputs", str(tmp_path / "outputs"))
    assert third.returncode == 0, third.stderr
    assert f"{inv_id}/jsonl.2: results changed; run" in third.stdout
    after = runs_of(tracking_uri, "proctor-test", inv_id)
    assert sorted(after) == ["jsonl.1", "jsonl.2"]
    assert after["jsonl.1"].info.run_id == runs["jsonl.1"].info.run_id
    assert after["jsonl.2"].info.run_id != runs["jsonl.2"].info.run_id
    assert after["jsonl.2"].data.metrics[metric] == 0.125


def test_a_tracking_server_that_is_down_is_one_line_and_the_results_stay(tmp_path):
    outputs = tmp_path / "outputs"
    folder = make_invocation(outputs, "abcd1234", {"gsm8k": [sample("a", 1.0), sample("b", 0.0)]})
    before = snapshot(folder)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = run_inv(
        "export", "--to", "mlflow", "--outputs", str(outputs), env={"MLFLOW_TRACKING_URI": down}
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"proctor: MLflow tracking server {down} is unreachable")
    assert "nothing was exported" in lines[0]
    assert snapshot(folder) == before


def test_no_tracking_uri_is_one_line_naming_both_places(tmp_path):
    outputs = tmp_path / "outputs"
    make_invocation(outputs, "abcd1234", {"gsm8k": [sample("a", 1.0)]})
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(ROOT)] + ["export", "--outputs", str(outputs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "export.mlflow.tracking_uri" in result.stderr and "MLFLOW_TRACKING_URI" in result.stderr
