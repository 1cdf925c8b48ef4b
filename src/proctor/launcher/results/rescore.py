"""`inv rescore`: recompute the scores and metrics of finished tasks from their journals.

No request is sent. Every scored journal line is scored again by the benchmark's current
scorer (proctor.harness.rescoring: from its recorded response, or, for log-likelihood
lines, from the recorded per-choice log-likelihoods), on the host, after a scorer fix or with
``params.extra`` options changed by ``-o`` that affect scoring only. Error lines stay
errors. Metrics are recomputed as the harness computes them (proctor.harness.metrics, and
the benchmark's ``aggregate``).

Before anything is written, every selected task is checked, and the first that cannot be
re-scored refuses the whole command in one line: a sample the benchmark no longer has,
a target or prompt that differs from what the benchmark produces now (the responses
answer something else), a line its scorer refuses. What is written, per task, with the
job's run.lock held so no run of it can interleave:

    artifacts/before-rescore-<stamp>/   the previous results.json, results.yml,
                                        samples.jsonl (and task.yaml if -o changed it)
    artifacts/samples.jsonl             the same lines with new extracted/scores
    artifacts/results.json, .yml        new metrics, plus "rescored": {at, before, changed}

With ``-o``, task.yaml and the journal carry the new config hash, so a later resume
continues under it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from proctor import __version__
from proctor.harness import benchmarks, fewshot
from proctor.harness.atomicfile import write_atomic
from proctor.harness.benchmarks.base import Benchmark, Sample, judged_by
from proctor.harness.client import format_prompt
from proctor.harness.loglikelihood import choices_of
from proctor.harness.metrics import Tally, report, summarize
from proctor.harness.rescoring import NotRescorable, Rescores, rescore_line
from proctor.harness.taskfile import TaskSpec
from proctor.launcher.config import apply_override
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.local import RUN_LOCK
from proctor.launcher.jobs import invocations
from proctor.launcher.jobs.invocations import JobRef

JOURNAL = "samples.jsonl"
RESULTS = ("results.json", "results.yml")
OVERRIDABLE = "params.extra."


@dataclass(frozen=True)
class Change:
    """One (sample, repeat) whose score of one metric changed."""

    id: str
    repeat: int
    metric: str
    before: float | None
    after: float
    extracted_before: Any
    extracted_after: Any


@dataclass
class TaskRescore:
    """What re-scoring one task changed (or would change, in a dry run)."""

    job: JobRef
    rescored: int = 0  # scored lines scored again
    changes: list[Change] = field(default_factory=list)
    metrics: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    kept: Path | None = None  # where the previous files are
    results: dict[str, Any] = field(default_factory=dict)  # the new results.json
    lines: list[bytes] = field(default_factory=list)  # the new journal
    spec: TaskSpec | None = None
    spec_changed: bool = False


@dataclass(frozen=True)
class Rescored:
    invocation: invocations.Invocation
    tasks: list[TaskRescore]
    skipped: list[str]  # "<task>: why"


def rescore(
    outputs: Path,
    ident: str | None,
    tasks: Sequence[str] = (),
    overrides: Sequence[str] = (),
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Rescored:
    """Re-score the finished tasks of an invocation (or job); see the module docstring.

    Raises:
        ProctorError: One line: the selection is wrong, or some selected task cannot be
            re-scored. Nothing is written then.
    """
    selection = invocations.resolve(outputs, ident)
    jobs = list(selection.jobs)
    named = bool(tasks) or not selection.whole
    if tasks:
        known = [j.task for j in jobs]
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise ProctorError(
                f"no task {unknown[0]!r} in invocation {selection.invocation.id} "
                f"(it has {', '.join(known)})"
            )
        jobs = [j for j in jobs if j.task in tasks]
    for item in overrides:
        if not item.strip().startswith(OVERRIDABLE):
            raise ProctorError(
                f"rescore -o {item!r}: only {OVERRIDABLE}* options may change (others decide "
                "which samples exist or what was asked: start a new run instead)"
            )
    done, skipped = [], []
    for job in jobs:
        why = _not_finished(job)
        if why is not None:
            if named:
                raise ProctorError(f"cannot rescore {job.task}: {why}")
            skipped.append(f"{job.task}: {why}")
            continue
        done.append(_prepare(job, overrides, named, skipped))
    prepared = [t for t in done if t is not None]
    if not prepared and not skipped:
        raise ProctorError(f"nothing to rescore in invocation {selection.invocation.id}")
    if not dry_run:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        for task in prepared:
            _write(task, stamp)
        _rewrite_html(selection.invocation)
    return Rescored(selection.invocation, prepared, skipped)


def _rewrite_html(inv: invocations.Invocation) -> None:
    """report.html shows the new scores too, when the invocation has one."""
    from proctor.launcher.results import htmlreport
    from proctor.launcher.results import report as report_mod

    path = inv.folder / htmlreport.FILENAME
    if path.exists():
        htmlreport.write([report_mod.collect(inv)], path)


def _not_finished(job: JobRef) -> str | None:
    if not (job.artifacts / "results.json").is_file():
        return "it has no results.json (not finished: inv resume it first)"
    if not (job.artifacts / JOURNAL).is_file():
        return f"it has no {JOURNAL}"
    return None


def _spec(job: JobRef, overrides: Sequence[str]) -> tuple[TaskSpec, bool]:
    path = job.folder / "task.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a mapping")
        original = TaskSpec.model_validate(raw)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise ProctorError(f"cannot rescore {job.task}: {path} is unreadable ({e})") from None
    for item in overrides:
        apply_override(raw, item.strip())
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProctorError(f"rescore -o: {where}: {err['msg']}") from None
    return spec, spec != original


def _prepare(
    job: JobRef, overrides: Sequence[str], named: bool, skipped: list[str]
) -> TaskRescore | None:
    """Score every line again in memory; None (with a note in ``skipped``) to leave it alone."""
    spec, changed = _spec(job, overrides)

    def refuse(why: str) -> ProctorError:
        return ProctorError(f"cannot rescore {job.task}: {why}")

    try:
        bench = benchmarks.get(spec.benchmark)
    except KeyError:
        why = f"benchmark {spec.benchmark!r} is not proctor's (a custom task)"
        if named:
            raise refuse(why) from None
        skipped.append(f"{job.task}: {why}")
        return None
    if getattr(bench, "needs_sandbox", False) or judged_by(bench, spec.params):
        why = (
            "its scores come from a judge model's verdicts, which rescore does not ask for"
            if judged_by(bench, spec.params)
            else "its scores come from running the model's code, which rescore does not do"
        )
        if named:
            raise refuse(why)
        skipped.append(f"{job.task}: {why}")
        return None
    samples = _samples(job, spec, bench, refuse)
    old_results = _read_json(job.artifacts / "results.json")
    task = TaskRescore(job=job, spec=spec, spec_changed=changed)
    tally = Tally()
    by_id: dict[str, list[dict[str, float]]] = {}
    new_hash = spec.config_hash()
    for number, raw, line in _journal(job.artifacts / JOURNAL):
        if line is None:
            task.lines.append(raw)  # unreadable: kept as it is (a resume drops it)
            continue
        where = f"{JOURNAL} line {number}"
        if line.get("status") == "scored":
            sample = samples.get(str(line.get("id")))
            if sample is None:
                raise refuse(f"{where}: sample {line.get('id')!r} is not in the benchmark now")
            _same_target(sample, line, where, refuse)
            try:
                rescored = rescore_line(bench, sample, line)
            except NotRescorable as e:
                raise refuse(f"{where}: {e}") from None
            except Exception as e:  # a scorer bug: say so rather than half-rescore
                raise refuse(f"{where}: the scorer failed: {type(e).__name__}: {e}") from None
            # A benchmark's own rescore, and the log-likelihood one, check what lines hold.
            if not isinstance(bench, Rescores) and not choices_of(sample):
                _same_prompt(sample, spec, bench, line, where, refuse)
            score = rescored.score
            scores = {name: float(value) for name, value in score.scores.items()}
            extracted = json.loads(json.dumps(score.extracted, default=str))
            old = line.get("scores") or {}
            for metric, value in scores.items():
                if old.get(metric) != value:
                    task.changes.append(
                        Change(
                            str(line["id"]),
                            int(line["repeat"]),
                            metric,
                            old.get(metric),
                            value,
                            line.get("extracted"),
                            extracted,
                        )
                    )
            line = {**line, **rescored.fields, "extracted": extracted, "scores": scores}
            by_id.setdefault(str(line["id"]), []).append(scores)
            task.rescored += 1
        line["config_hash"] = new_hash
        usage = line.get("usage") or {}
        tally.add(
            str(line.get("status")),
            line.get("scores") if line.get("status") == "scored" else None,
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            line.get("latency_s"),
        )
        task.lines.append((json.dumps(line, default=str) + "\n").encode())
    total = int(((old_results.get("counts") or {}).get("total")) or tally.scored + tally.errors)
    summary = report(tally, total)
    if hasattr(bench, "aggregate"):
        per_id = bench.aggregate(by_id)
        summary["metrics"].update({k: asdict(summarize(v)) for k, v in per_id.items() if v})
    before = {name: m.get("value") for name, m in (old_results.get("metrics") or {}).items()}
    after = {name: m["value"] for name, m in summary["metrics"].items()}
    task.metrics = {name: (before.get(name), after.get(name)) for name in {**before, **after}}
    task.results = {
        **old_results,
        "config_hash": new_hash,
        "metrics": summary["metrics"],
        "counts": summary["counts"],
    }
    return task


def _samples(job: JobRef, spec: TaskSpec, bench: Benchmark, refuse: Any) -> dict[str, Sample]:
    try:
        loaded = bench.load(spec.params, _dataset_dir(job, spec))
    except (OSError, ValueError) as e:
        raise refuse(f"cannot load benchmark {spec.benchmark!r}: {e}") from None
    return {s.id: s for s in loaded}


def _same_target(sample: Sample, line: dict[str, Any], where: str, refuse: Any) -> None:
    """Refuse when the benchmark now expects another answer than the journal recorded."""
    target = json.loads(json.dumps(sample.target, default=str))
    if line.get("target") != target:
        raise refuse(
            f"{where}: the target of {sample.id} is {target!r} now, the journal has "
            f"{line.get('target')!r} (the data changed: start a new run)"
        )


def _same_prompt(
    sample: Sample, spec: TaskSpec, bench: Benchmark, line: dict[str, Any], where: str, refuse: Any
) -> None:
    """Refuse when the benchmark now asks something else than the response answers."""
    multiturn = spec.params.fewshot_as_multiturn and spec.endpoint.type == "chat"
    shots = fewshot.shots(bench, spec.params)
    (shown,) = fewshot.apply(bench, [sample], shots, spec.params.seed, multiturn)
    prompt = format_prompt(shown.prompt, spec.endpoint.type, spec.params.system_prompt)
    if line.get("prompt") != prompt:
        raise refuse(
            f"{where}: the benchmark's prompt for {sample.id} differs from the one its "
            "response answers (start a new run)"
        )


def _dataset_dir(job: JobRef, spec: TaskSpec) -> str | None:
    """The host folder that was mounted as the task's dataset_dir, from invocation.yaml."""
    if spec.dataset_dir is None:
        return None
    record = yaml.safe_load((job.folder.parent / invocations.RECORD).read_text(encoding="utf-8"))
    config_path = Path(str(record.get("config_path") or "."))
    name, _, nth = job.task.partition(".")
    same = [t for t in record["config"]["evaluation"]["tasks"] if t.get("name") == name]
    task = same[int(nth) - 1 if nth.isdigit() else 0]
    path = Path(str(task.get("dataset_dir"))).expanduser()
    return str(path if path.is_absolute() else (config_path.parent / path).resolve())


def _journal(path: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = json.loads(raw) if raw.endswith(b"\n") else None
            except ValueError:
                line = None
            yield number, raw, line if isinstance(line, dict) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(task: TaskRescore, stamp: str) -> None:
    """Keep the previous files, then write the new ones, each atomically, under run.lock."""
    artifacts = task.job.artifacts
    kept = artifacts / f"before-rescore-{stamp}"
    task.kept = kept
    with _run_lock(task.job):
        kept.mkdir()
        for name in (JOURNAL, *RESULTS):
            if (artifacts / name).exists():
                shutil.copy2(artifacts / name, kept / name)
        if task.spec_changed:
            shutil.copy2(task.job.folder / "task.yaml", kept / "task.yaml")
        changed = len({(c.id, c.repeat) for c in task.changes})
        task.results["rescored"] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "harness_version": __version__,
            "before": f"{kept.name}/results.json",
            "samples_changed": changed,
        }
        write_atomic(artifacts / JOURNAL, b"".join(task.lines).decode(), fsync=True)
        text = json.dumps(task.results, indent=2) + "\n"
        write_atomic(artifacts / "results.json", text, fsync=True)
        write_atomic(
            artifacts / "results.yml", yaml.safe_dump(task.results, sort_keys=False), fsync=True
        )
        if task.spec_changed and task.spec is not None:
            write_atomic(task.job.folder / "task.yaml", task.spec.to_yaml(), fsync=True)


class _run_lock:  # noqa: N801 - used as a context manager, like a function
    """Hold the job's logs/run.lock (run.sh holds it while it runs); refuse if it is held."""

    def __init__(self, job: JobRef) -> None:
        self.job = job
        self.fd = -1

    def __enter__(self) -> None:
        path = self.job.logs / RUN_LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise ProctorError(
                f"cannot rescore {self.job.task}: it is running ({path} is held); "
                "rescore it when it has ended"
            ) from None

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def render(rescored: Rescored, *, dry_run: bool = False, shown: int = 10) -> str:
    """What changed, per task: metrics before -> after, the samples whose score changed."""
    out = []
    verb = "would change" if dry_run else "changed"
    for task in rescored.tasks:
        keys = sorted({(c.id, c.repeat) for c in task.changes})
        out.append(f"{task.job.task}: re-scored {task.rescored} samples, {len(keys)} {verb} score")
        for name, (before, after) in sorted(task.metrics.items()):
            mark = "" if before == after else "  *"
            out.append(f"  {name:<24} {_num(before)} -> {_num(after)}{mark}")
        flips = [c for c in task.changes if {c.before, c.after} <= {0.0, 1.0}]
        up = sum(1 for c in flips if c.after > (c.before or 0))
        if flips:
            out.append(f"  flipped: {up} to right, {len(flips) - up} to wrong")
        for c in task.changes[:shown]:
            out.append(
                f"    {c.id} (repeat {c.repeat}) {c.metric} {_num(c.before)} -> {_num(c.after)}"
                f" (extracted {c.extracted_before!r} -> {c.extracted_after!r})"
            )
        if len(task.changes) > shown:
            out.append(f"    ... and {len(task.changes) - shown} more")
        if task.kept is not None:
            out.append(f"  previous results kept in {task.kept}")
    for line in rescored.skipped:
        out.append(f"left alone: {line}")
    if dry_run:
        out.append("dry run: nothing written")
    return "\n".join(out)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
