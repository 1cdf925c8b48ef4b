"""`inv export --to mlflow`: one MLflow run per task of an invocation, read from disk.

Each task with a results.json becomes one run in the experiment ``export.mlflow.
experiment_name`` (default ``proctor``): the task's params (task.yaml's params, flattened,
with the benchmark and endpoint), every metric as ``<name>`` plus ``<name>.stderr``,
``.ci_low``, ``.ci_high`` and ``.n``, the sample counts (``samples.errors`` ...), tokens,
latency and wall time; results.json, report.html and invocation.yaml (the resolved config,
which holds names of secrets, never values) as artifacts; and ``proctor.*`` tags naming the
invocation, job, task, benchmark and model, plus the config's own ``tags``.

Re-exporting never duplicates a run. A run is found again by its ``proctor.invocation`` and
``proctor.job`` tags. If it carries the same ``proctor.results_sha256`` (the hash of the
results.json it was made from), the task is skipped; if the results changed since (a resume
finished the task), or an earlier export stopped half-way (the hash tag is set last), the old
run is deleted and a new one made: MLflow's params cannot be changed once logged, so
"update" is "replace". Tasks without results (running, failed early, killed) are listed and
left out; exporting again after ``inv resume`` adds them.

The tracking URI is ``export.mlflow.tracking_uri`` from the invocation's config, else
``MLFLOW_TRACKING_URI`` from the environment or the invocation's .env; MLflow's other
``MLFLOW_*`` variables (credentials) come from there too, into this process only. Nothing in
the invocation folder is written. A tracking server that does not answer is one line, before
anything is sent. The client is ``mlflow-skinny`` (the ``mlflow`` extra), imported only here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from proctor import __version__
from proctor.launcher import envfile
from proctor.launcher.config import MlflowExport
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import invocations
from proctor.launcher.jobs.invocations import RECORD, Invocation

if TYPE_CHECKING:
    from proctor.launcher.config import RunConfig
    from proctor.launcher.results.report import InvocationReport, TaskReport

TARGETS = ("mlflow",)
TAG_INVOCATION = "proctor.invocation"
TAG_JOB = "proctor.job"
TAG_RESULTS_HASH = "proctor.results_sha256"
# MLflow's limits: 100 params / 1000 metrics per batch, 6000 characters per param value.
_PARAMS_PER_BATCH, _METRICS_PER_BATCH, _PARAM_CHARS = 100, 1000, 6000
_BAD_KEY = re.compile(r"[^\w./\- ]")  # what MLflow accepts in a param, metric or tag key
_INSTALL = "pip install 'proctor[mlflow]' (the MLflow client, mlflow-skinny)"


@dataclass(frozen=True)
class Destination:
    """Where an invocation goes: the resolved tracking URI and the config's export section."""

    tracking_uri: str
    settings: MlflowExport


def preflight(config: RunConfig, env: Mapping[str, str]) -> None:
    """At `inv run`: execution.auto_export can work (a tracking URI, the client installed)."""
    import importlib.util

    if "mlflow" not in config.execution.auto_export:
        return
    if not (config.export.mlflow.tracking_uri or env.get("MLFLOW_TRACKING_URI", "").strip()):
        raise ProctorError(
            "execution.auto_export has mlflow but there is no tracking URI: set "
            "export.mlflow.tracking_uri or MLFLOW_TRACKING_URI (environment or .env)"
        )
    if importlib.util.find_spec("mlflow") is None:
        raise ProctorError(f"execution.auto_export has mlflow but {_INSTALL.split(' (')[0]} first")


def settings_of(invocation: Invocation) -> MlflowExport:
    """The ``export.mlflow`` section of the invocation's recorded config (defaults if absent)."""
    path = invocation.folder / RECORD
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        section = ((record.get("config") or {}).get("export") or {}).get("mlflow") or {}
        return MlflowExport.model_validate(section)
    except (OSError, yaml.YAMLError, AttributeError, ValueError) as e:
        raise ProctorError(f"{path}: unusable export.mlflow section ({e})") from None


def environment_of(invocation: Invocation) -> dict[str, str]:
    """The process environment over the invocation's recorded .env file."""
    try:
        record = yaml.safe_load((invocation.folder / RECORD).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        record = {}
    env_file = record.get("env_file") if isinstance(record, dict) else None
    path = Path(env_file) if env_file and Path(env_file).is_file() else None
    return envfile.environment(path)


def destination(invocation: Invocation) -> Destination:
    settings = settings_of(invocation)
    env = environment_of(invocation)
    uri = settings.tracking_uri or env.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise ProctorError(
            f"no MLflow tracking URI for invocation {invocation.id}: set "
            "export.mlflow.tracking_uri in the config or MLFLOW_TRACKING_URI "
            "(e.g. http://127.0.0.1:5000)"
        )
    for name, value in env.items():
        if name.startswith("MLFLOW_TRACKING_") and name != "MLFLOW_TRACKING_URI":
            os.environ.setdefault(name, value)  # credentials: this process only
    return Destination(uri, settings)


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail now, in one line, when an http(s) tracking server does not answer its /health."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    probe = uri.rstrip("/") + "/health"
    try:
        urllib.request.urlopen(probe, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answers: the client's own errors will be specific
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ProctorError(
            f"MLflow tracking server {uri} is unreachable ({reason}): start it or fix "
            "export.mlflow.tracking_uri / MLFLOW_TRACKING_URI; nothing was exported and the "
            "results on disk are unchanged"
        ) from None


def _client(uri: str) -> Any:
    # A server that dies mid-export should cost seconds, not MLflow's default minutes of
    # retries; a user's own settings win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # we print ours
    try:
        with warnings.catch_warnings():  # mlflow's own pydantic models warn at import
            warnings.simplefilter("ignore")
            from mlflow.tracking import MlflowClient
    except ImportError:
        raise ProctorError(f"inv export --to mlflow needs the MLflow client: {_INSTALL}") from None
    return MlflowClient(tracking_uri=uri)


def export(outputs: Path, ids: Sequence[str], to: str = "mlflow") -> Iterator[str]:
    """Export the invocations ``ids`` name (prefixes; none: the latest); yield what happened."""
    if to not in TARGETS:
        raise ProctorError(f"unknown export target {to!r} (known: {', '.join(TARGETS)})")
    chosen: dict[Path, Invocation] = {}
    for ident in ids or [""]:
        inv = invocations.invocation(outputs, ident or None)
        chosen.setdefault(inv.folder, inv)
    for inv in chosen.values():
        yield from export_invocation(inv)


def export_invocation(invocation: Invocation) -> Iterator[str]:
    """One MLflow run per task of ``invocation`` with results; see the module docstring."""
    dest = destination(invocation)
    check_reachable(dest.tracking_uri)
    client = _client(dest.tracking_uri)
    from proctor.launcher.results.report import collect

    report = collect(invocation)
    try:
        experiment_id = _experiment(client, dest.settings.experiment_name)
        counts = {"exported": 0, "replaced": 0, "unchanged": 0, "without results": 0}
        for task in report.tasks:
            outcome, line = _export_task(client, experiment_id, dest.settings, report, task)
            counts[outcome] += 1
            yield line
    except ProctorError:
        raise
    except Exception as e:  # the client's errors: MlflowException, requests' ConnectionError
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ProctorError(
            f"MLflow export of {invocation.id} to {dest.tracking_uri} failed: {first} "
            "(the results on disk are unchanged; export again to finish)"
        ) from None
    summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    where = dest.tracking_uri.rstrip("/")
    link = f" ({where}/#/experiments/{experiment_id})" if where.startswith("http") else ""
    yield (
        f"invocation {invocation.id} -> MLflow experiment "
        f"{dest.settings.experiment_name!r}{link}: {summary}"
    )


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:
        found = client.get_experiment_by_name(name)  # another export created it meanwhile
        if found is None:
            raise
        return str(found.experiment_id)


def _export_task(
    client: Any,
    experiment_id: str,
    settings: MlflowExport,
    report: InvocationReport,
    task: TaskReport,
) -> tuple[str, str]:
    from mlflow.entities import ViewType

    name = f"{report.id}/{task.task}"
    results_file = task.job.artifacts / "results.json"
    if task.results is None:
        why = f": {task.reason}" if task.reason else ""
        return "without results", f"{name}: not exported, no results yet ({task.state}{why})"
    digest = hashlib.sha256(results_file.read_bytes()).hexdigest()
    query = f"tags.`{TAG_INVOCATION}` = '{report.id}' and tags.`{TAG_JOB}` = '{task.job.id}'"
    existing = client.search_runs(
        [experiment_id], filter_string=query, run_view_type=ViewType.ACTIVE_ONLY
    )
    if any(run.data.tags.get(TAG_RESULTS_HASH) == digest for run in existing):
        run_id = next(
            r.info.run_id for r in existing if r.data.tags.get(TAG_RESULTS_HASH) == digest
        )
        for stale in existing:
            if stale.info.run_id != run_id:
                client.delete_run(stale.info.run_id)
        return "unchanged", f"{name}: unchanged since run {run_id}; skipped"
    run_id = _new_run(client, experiment_id, settings, report, task, digest)
    for stale in existing:
        client.delete_run(stale.info.run_id)
    if existing:
        old = ", ".join(r.info.run_id for r in existing)
        return "replaced", f"{name}: results changed; run {run_id} replaces {old}"
    return "exported", f"{name}: run {run_id}"


def _new_run(
    client: Any,
    experiment_id: str,
    settings: MlflowExport,
    report: InvocationReport,
    task: TaskReport,
    digest: str,
) -> str:
    from mlflow.entities import Metric, Param

    results = task.results
    timing = results.timing if results else {}
    started = _millis(timing.get("started_at"))
    finished = _millis(timing.get("finished_at")) or started
    run_name = settings.run_name.format(
        invocation=report.id, task=task.task, benchmark=task.benchmark, model=task.model_id
    ).strip()
    tags = {
        **settings.tags,
        TAG_INVOCATION: report.id,
        TAG_JOB: task.job.id,
        "proctor.task": task.task,
        "proctor.benchmark": task.benchmark,
        "proctor.model_id": task.model_id,
        "proctor.state": task.state,
        "proctor.results_status": task.status,
        "proctor.config_hash": str((results and results.config_hash) or ""),
        "proctor.version": __version__,
    }
    run = client.create_run(experiment_id, start_time=started, tags=tags, run_name=run_name)
    run_id = str(run.info.run_id)
    params = [Param(k, v) for k, v in task_params(task).items()]
    for i in range(0, len(params), _PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[i : i + _PARAMS_PER_BATCH])
    stamp = finished or 0
    metrics = [Metric(k, v, stamp, 0) for k, v in task_metrics(task).items()]
    for i in range(0, len(metrics), _METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + _METRICS_PER_BATCH])
    client.log_artifact(run_id, str(task.job.artifacts / "results.json"))
    for path in (report.folder / "report.html", report.folder / RECORD):
        if path.is_file():
            client.log_artifact(run_id, str(path))
    # Last: a run without this tag is an export that stopped half-way, replaced next time.
    client.set_tag(run_id, TAG_RESULTS_HASH, digest)
    status = "FINISHED" if task.status == "ok" and task.state == "SUCCEEDED" else "FAILED"
    client.set_terminated(run_id, status=status, end_time=finished)
    return run_id


def task_params(task: TaskReport) -> dict[str, str]:
    """The task's params as MLflow params: task.yaml's params flattened, and what it ran on."""
    from proctor.launcher.results.report import read_task_spec, section

    spec = read_task_spec(task.job)
    endpoint = section(spec.get("endpoint"))
    flat = {
        "benchmark": task.benchmark,
        "model_id": task.model_id,
        "endpoint.type": endpoint.get("type"),
        "endpoint.url": endpoint.get("url"),
    }
    params = spec.get("params")
    _flatten("", params if isinstance(params, dict) else {}, flat)
    return {  # null stays visible: limit_samples null means every item
        _key(k): (json.dumps(v) if not isinstance(v, str) else v)[:_PARAM_CHARS]
        for k, v in flat.items()
    }


def _flatten(prefix: str, value: dict[str, Any], into: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            _flatten(f"{name}.", item, into)
        else:
            into[name] = item


def task_metrics(task: TaskReport) -> dict[str, float]:
    """Every metric with its stderr, CI bounds and n, then counts, tokens, latency, time."""
    out: dict[str, float] = {}
    for name, m in task.metrics.items():
        key = _key(name)
        out[key] = m.value
        for part, value in (
            ("stderr", m.stderr),
            ("ci_low", m.ci_low),
            ("ci_high", m.ci_high),
            ("n", m.n),
        ):
            if value is not None:
                out[f"{key}.{part}"] = float(value)
    for count in ("total", "scored", "errors"):
        value = task.count(count)
        if value is not None:
            out[f"samples.{count}"] = float(value)
    total, errors = task.count("total"), task.count("errors")
    if total and errors is not None:
        out["samples.error_rate"] = errors / total
    for section in ("usage", "latency_s"):  # tokens; latency quantiles (p50, p90, p99)
        values = getattr(task.results, section, None) or {}
        for name, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[_key(f"{section}.{name}")] = float(value)
    if task.wall_s is not None:
        out["wall_s"] = task.wall_s
    return out


def _key(name: str) -> str:
    """A name MLflow accepts as a key: ``pass@1`` -> ``pass_at_1``."""
    return _BAD_KEY.sub("_", name.replace("@", "_at_"))


def _millis(stamp: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m proctor.launcher.results.export FOLDER TARGET...``: run_all.sh's auto_export."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(
            "usage: python -m proctor.launcher.results.export INVOCATION_FOLDER mlflow",
            file=sys.stderr,
        )
        return 2
    try:
        invocation = invocations.load(Path(args[0]))
        for target in args[1:]:
            if target not in TARGETS:
                raise ProctorError(f"unknown export target {target!r}")
            for line in export_invocation(invocation):
                print(f"export: {line}", flush=True)
    except ProctorError as e:
        print(f"proctor: export: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
