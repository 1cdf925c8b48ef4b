"""`inv compare A B`: the difference B - A of every metric, sample by sample.

For each task (matched by folder name) that both invocations ran, only the samples
both journals scored are paired: (id, repeat) keys found in one journal only, or that
errored on either side, are counted and left out. Each metric gets the mean
difference over its pairs, a paired bootstrap 95% CI and, for 0/1 metrics, the exact
McNemar p-value (proctor.launcher.results.stats). Whatever makes the two runs not like for
like is named beside the numbers: a different benchmark, endpoint type, generation
parameter, dataset, harness version, sample subset, prompt or target.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctor.harness.exchange import JournalLine
from proctor.launcher.errors import ProctorError
from proctor.launcher.results import samples, stats
from proctor.launcher.results.report import InvocationReport, TaskReport, read_task_spec, section

# Parameters that change how fast a run goes, not what it measures (as in
# proctor.harness.taskfile): a difference in them is not worth naming.
OPERATIONAL = frozenset({"parallelism", "request_timeout", "max_retries", "max_error_rate"})


@dataclass(frozen=True)
class Paired:
    """What comparing needs of one journal line (digests, not the long texts)."""

    scored: bool
    scores: dict[str, float]
    prompt: str
    target: str

    @classmethod
    def of(cls, record: JournalLine) -> Paired:
        return cls(
            scored=record.scored,
            scores=record.numbers(),
            prompt=_digest(record.prompt),
            target=_digest(record.target),
        )


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class MetricDiff:
    metric: str
    result: stats.PairedDifference


@dataclass(frozen=True)
class TaskComparison:
    """One task both invocations ran: its paired differences and what differs."""

    task: str
    shared: int  # (id, repeat) pairs scored in both runs
    only_a: int  # keys in A's journal only
    only_b: int
    errored: int  # keys in both journals, an error in at least one
    metrics: tuple[MetricDiff, ...]
    differences: tuple[str, ...]  # config and data mismatches, in words


@dataclass(frozen=True)
class Comparison:
    a: InvocationReport
    b: InvocationReport
    tasks: tuple[TaskComparison, ...]
    only_in_a: tuple[str, ...]  # task names
    only_in_b: tuple[str, ...]
    resamples: int
    seed: int


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def config_differences(a: TaskReport, b: TaskReport) -> list[str]:
    """What differs between two tasks' task.yaml and harness versions, as "what: A vs B"."""
    spec_a, spec_b = read_task_spec(a.job), read_task_spec(b.job)
    if not spec_a or not spec_b:
        missing = [x.job.id for x, spec in ((a, spec_a), (b, spec_b)) if not spec]
        return [f"task.yaml unreadable for {', '.join(missing)}: settings not compared"]

    def settings(spec: dict[str, Any]) -> dict[str, Any]:
        params = section(spec.get("params"))
        endpoint = section(spec.get("endpoint"))
        judge = section(spec.get("judge"))  # judged tasks: a different judge, other scores
        judge_params = section(judge.get("params"))
        return {
            "benchmark": spec.get("benchmark"),
            "endpoint type": endpoint.get("type"),
            "dataset_dir": spec.get("dataset_dir"),
            **_flatten({k: v for k, v in params.items() if k not in OPERATIONAL}, ""),
            "judge": judge.get("model_id"),
            "judge type": judge.get("type"),
            **_flatten(
                {k: v for k, v in judge_params.items() if k not in OPERATIONAL}, "judge params"
            ),
        }

    left, right = settings(spec_a), settings(spec_b)
    out = [
        f"{key}: {json.dumps(left.get(key))} vs {json.dumps(right.get(key))}"
        for key in dict.fromkeys([*left, *right])
        if left.get(key) != right.get(key)
    ]
    version_a = a.results.harness_version if a.results else None
    version_b = b.results.harness_version if b.results else None
    if version_a and version_b and version_a != version_b:
        out.append(f"harness_version: {version_a} vs {version_b}")
    return out


def compare_task(
    a: TaskReport, b: TaskReport, *, resamples: int = stats.RESAMPLES, seed: int = stats.SEED
) -> TaskComparison:
    """Pair the two journals of a task and compare every metric both sides scored."""
    skipped_a: list[int] = []
    skipped_b: list[int] = []
    lines_a = samples.read(a.job.artifacts / samples.FILENAME, Paired.of, skipped_a)
    lines_b = samples.read(b.job.artifacts / samples.FILENAME, Paired.of, skipped_b)
    common = [key for key in lines_a if key in lines_b]
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    shared = errored = prompts_differ = targets_differ = 0
    for key in common:
        la, lb = lines_a[key], lines_b[key]
        prompts_differ += la.prompt != lb.prompt
        targets_differ += la.target != lb.target
        if not (la.scored and lb.scored):
            errored += 1
            continue
        shared += 1
        for name, x in la.scores.items():
            if name in lb.scores:
                xs, ys = pairs.setdefault(name, ([], []))
                xs.append(x)
                ys.append(lb.scores[name])
    only_a = len(lines_a) - len(common)
    only_b = len(lines_b) - len(common)
    differences = config_differences(a, b)
    for side, skipped in (("A", skipped_a), ("B", skipped_b)):
        if skipped:
            differences.append(
                f"{len(skipped)} unreadable journal lines skipped in {side} "
                f"(first: line {skipped[0]})"
            )
    if only_a or only_b:
        differences.append(
            f"different samples: {len(common)} in both, {only_a} only in A, {only_b} only in B"
        )
    if prompts_differ:
        differences.append(f"prompts differ on {prompts_differ} of {len(common)} common samples")
    if targets_differ:
        differences.append(f"targets differ on {targets_differ} of {len(common)} common samples")
    metrics = tuple(
        MetricDiff(name, stats.paired_difference(xs, ys, resamples=resamples, seed=seed))
        for name, (xs, ys) in sorted(pairs.items())
    )
    return TaskComparison(
        task=a.task,
        shared=shared,
        only_a=only_a,
        only_b=only_b,
        errored=errored,
        metrics=metrics,
        differences=tuple(differences),
    )


def compare(
    a: InvocationReport,
    b: InvocationReport,
    *,
    resamples: int = stats.RESAMPLES,
    seed: int = stats.SEED,
) -> Comparison:
    """Compare every task both invocations ran; ProctorError when they share none."""
    if a.folder.resolve() == b.folder.resolve():
        raise ProctorError(f"both ids name invocation {a.id}: give two different invocations")
    names_a = {t.task for t in a.tasks}
    names_b = {t.task for t in b.tasks}
    both = [t.task for t in a.tasks if t.task in names_b]
    only_in_a = tuple(t.task for t in a.tasks if t.task not in names_b)
    only_in_b = tuple(t.task for t in b.tasks if t.task not in names_a)
    if not both:
        raise ProctorError(
            f"invocations {a.id} and {b.id} share no task (A ran {', '.join(only_in_a) or 'none'}; "
            f"B ran {', '.join(only_in_b) or 'none'}): compare runs of the same benchmarks"
        )
    tasks = []
    for name in both:
        ta, tb = a.task(name), b.task(name)
        assert ta is not None and tb is not None
        tasks.append(compare_task(ta, tb, resamples=resamples, seed=seed))
    return Comparison(a, b, tuple(tasks), only_in_a, only_in_b, resamples, seed)


# -- formatting ------------------------------------------------------------------------------

HEADERS = ["task", "metric", "n", "A", "B", "B - A", "95% CI", "McNemar p", "sig"]


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for t in comparison.tasks:
        if not t.metrics:
            rows.append([t.task, "-", "0", "", "", "", "", "", "no samples scored in both"])
        for m in t.metrics:
            r = m.result
            rows.append(
                [
                    t.task,
                    m.metric,
                    str(r.n),
                    f"{r.mean_a:.3f}",
                    f"{r.mean_b:.3f}",
                    f"{r.diff:+.3f}",
                    f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]",
                    p_text(r.p_value),
                    "*" if r.significant else "",
                ]
            )
    return rows


def notes(comparison: Comparison) -> list[str]:
    """Everything that makes the comparison not like for like, one line each."""
    out = []
    for t in comparison.tasks:
        out += [f"{t.task}: {d}" for d in t.differences]
        if t.errored:
            out.append(f"{t.task}: {t.errored} common samples errored in A or B: left out")
    if comparison.only_in_a:
        out.append(f"only in A (not compared): {', '.join(comparison.only_in_a)}")
    if comparison.only_in_b:
        out.append(f"only in B (not compared): {', '.join(comparison.only_in_b)}")
    return out


def legend(comparison: Comparison) -> str:
    return (
        "A, B: means over the samples both scored; * significant at 5% (exact McNemar test "
        "for 0/1 metrics, otherwise the CI excludes 0); CI: paired bootstrap, "
        f"{comparison.resamples} resamples, seed {comparison.seed}"
    )


def table(comparison: Comparison, *, markdown: bool = False) -> str:
    from tabulate import tabulate

    c = comparison
    heads = f"A = {c.a.label}  {c.a.folder}\nB = {c.b.label}  {c.b.folder}"
    body = tabulate(
        _rows(c),
        headers=HEADERS,
        tablefmt="github" if markdown else "simple",
        disable_numparse=True,
    )
    found = notes(c)
    mismatch = (
        "NOT like for like:\n" + "\n".join(f"  {line}" for line in found)
        if found
        else "same settings, same samples"
    )
    return "\n\n".join([heads, body, legend(c), mismatch])


def as_dict(comparison: Comparison) -> dict[str, Any]:
    c = comparison
    return {
        "schema_version": 1,
        "a": {"id": c.a.id, "model_id": c.a.model_id, "folder": str(c.a.folder)},
        "b": {"id": c.b.id, "model_id": c.b.model_id, "folder": str(c.b.folder)},
        "bootstrap": {"resamples": c.resamples, "seed": c.seed, "level": 0.95},
        "tasks": [
            {
                "task": t.task,
                "shared": t.shared,
                "only_a": t.only_a,
                "only_b": t.only_b,
                "errored": t.errored,
                "differences": list(t.differences),
                "metrics": {
                    m.metric: {
                        "n": m.result.n,
                        "mean_a": m.result.mean_a,
                        "mean_b": m.result.mean_b,
                        "diff": m.result.diff,
                        "ci_low": m.result.ci_low,
                        "ci_high": m.result.ci_high,
                        "mcnemar_p": m.result.p_value,
                        "a_only": m.result.a_only if m.result.p_value is not None else None,
                        "b_only": m.result.b_only if m.result.p_value is not None else None,
                        "significant": m.result.significant,
                    }
                    for m in t.metrics
                },
            }
            for t in c.tasks
        ],
        "only_in_a": list(c.only_in_a),
        "only_in_b": list(c.only_in_b),
    }


def to_csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["task", "metric", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "mcnemar_p"]
        + ["significant", "differences"]
    )
    for t in comparison.tasks:
        for m in t.metrics:
            r = m.result
            p = "" if r.p_value is None else r.p_value
            writer.writerow(
                [t.task, m.metric, r.n, r.mean_a, r.mean_b, r.diff, r.ci_low, r.ci_high, p]
                + [r.significant, "; ".join(t.differences)]
            )
    return buffer.getvalue().rstrip("\n")


def render(comparison: Comparison, fmt: str = "table") -> str:
    if fmt == "table":
        return table(comparison)
    if fmt == "markdown":
        return table(comparison, markdown=True)
    if fmt == "json":
        return json.dumps(as_dict(comparison), indent=2)
    if fmt == "csv":
        return to_csv(comparison)
    raise ProctorError(f"unknown --format {fmt!r}: choose one of table, json, csv, markdown")


def load(outputs: Path, a_id: str, b_id: str, **kwargs: Any) -> Comparison:
    """Compare the invocations two ids name (unique prefixes are enough)."""
    from proctor.launcher.jobs import invocations
    from proctor.launcher.results.report import collect

    a = collect(invocations.invocation(outputs, a_id))
    b = collect(invocations.invocation(outputs, b_id))
    return compare(a, b, **kwargs)
