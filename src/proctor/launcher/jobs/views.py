"""What `inv status` and `inv ls` print: tables for people (tabulate), JSON for scripts.

The states come from proctor.launcher.jobs.status; nothing here decides one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proctor.launcher import executors
from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import invocations
from proctor.launcher.jobs.invocations import Invocation
from proctor.launcher.jobs.status import JobRow, Snapshot, counts, counts_text, snapshot


def status_view(outputs: Path, ident: str | None, *, as_json: bool = False) -> tuple[str, bool]:
    """The status of an invocation or job as text, and whether all of its jobs are settled."""
    selection = invocations.resolve(outputs, ident)
    inv = selection.invocation
    snap = snapshot([inv], jobs=selection.jobs)
    rows = snap.of(inv)
    ended = all(r.settled for r in rows)
    text = status_json(inv, rows, snap) if as_json else status_table(inv, rows, snap)
    return text, ended


def list_view(outputs: Path, *, as_json: bool = False) -> str:
    """Every invocation, newest first, with how many of its jobs are in each state."""
    loaded: list[Invocation] = []
    broken: dict[str, str] = {}
    for folder in invocations.scan(outputs):
        try:
            loaded.append(invocations.load(folder))
        except ProctorError as e:
            broken[folder.name] = str(e)
    if not loaded and not broken and not as_json:
        return f"no invocations in {outputs} yet: start one with inv run --config FILE"
    snap = snapshot(loaded) if loaded else Snapshot({})
    return list_json(loaded, snap, broken) if as_json else list_table(loaded, snap, broken)


STATUS_HEADERS = [
    "job",
    "task",
    "state",
    "progress",
    "rate",
    "ETA",
    "errors",
    "container",
    "exit / reason",
    "elapsed",
]


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _progress(row: JobRow) -> str:
    p = row.obs.progress
    if p is None:
        return "-"
    pct = f" ({100 * p.done / p.total:.0f}%)" if p.total else ""
    return f"{p.done}/{p.total}{pct}"


def _rate(row: JobRow) -> str:
    p = row.obs.progress
    if p is None or p.rate_per_s is None or row.status.ended:
        return "-"
    return f"{p.rate_per_s:.3g}/s"


def _eta(row: JobRow) -> str:
    p = row.obs.progress
    if p is None or row.status.ended or row.status.state != "RUNNING":
        return "-"
    return duration(p.eta_s)


def _errors(row: JobRow) -> str:
    if row.obs.results is not None:
        return str(row.obs.results.errors)
    p = row.obs.progress
    return str(p.failed) if p is not None else "-"


def _unit(row: JobRow) -> str:
    """The executor's word for what runs the job: ``exited (137)``, ``?`` when unknown."""
    u = row.obs.unit
    if not row.obs.known:
        return "?"
    if u is None:
        return "-"
    return f"{u.state} ({u.exit_code})" if u.exit_code is not None else u.state


def _exit(row: JobRow) -> str:
    st = row.status
    if st.state == "SUCCEEDED":
        return "0"
    return st.reason or (str(st.exit_code) if st.exit_code is not None else "")


def placement(invocation: Invocation) -> str:
    """Where the invocation runs, as its executor puts it (local: parallel or sequential)."""
    try:
        return executors.executor_class(invocation.executor).describe(invocation.execution)
    except ProctorError:  # an executor this installation does not know
        return invocation.executor


def status_table(invocation: Invocation, rows: Sequence[JobRow], snapshot: Snapshot) -> str:
    """The `inv status` table, a summary line and what to do about LOST/FAILED jobs."""
    from tabulate import tabulate

    headers = list(STATUS_HEADERS)
    if rows:
        headers[headers.index("container")] = rows[0].obs.terms.unit
    attempts = any(row.obs.attempt for row in rows)  # only where the executor resubmits
    if attempts:
        headers.insert(headers.index("state") + 1, "attempt")
    body = []
    for row in rows:
        cells = [
            row.job.id,
            row.job.task,
            row.status.state,
            _progress(row),
            _rate(row),
            _eta(row),
            _errors(row),
            _unit(row),
            _exit(row),
            duration(row.status.elapsed_s),
        ]
        if attempts:
            cells.insert(3, row.obs.attempt or "-")
        body.append(cells)
    summary = counts_text(rows) or "no jobs"
    lines = [
        f"invocation {invocation.id}  {invocation.folder}",
        f"{placement(invocation)}, created {invocation.created:%Y-%m-%d %H:%M:%S} UTC: {summary}",
        "",
        tabulate(body, headers=headers, disable_numparse=True),
    ]
    if snapshot.warning:
        lines.append(f"\nwarning: {snapshot.warning}")
    driver = snapshot.drivers.get(invocation.id)
    if driver and rows and all(r.settled for r in rows):  # report.html, an export, ...
        lines.append(f"\nevery job has ended; still running: {driver}")
    resume = f"inv resume --invocation {invocation.id}"
    if any(r.status.state == "LOST" for r in rows):
        lines.append(f"\nLOST: a job's script died; continue it with {resume}")
    elif all(r.settled for r in rows) and any(r.status.state != "SUCCEEDED" for r in rows):
        lines.append(f"\nrerun what did not succeed with {resume}")
    return "\n".join(lines)


def row_dict(row: JobRow) -> dict[str, Any]:
    """One job in `inv status --json`. "container" is the executor's unit and
    "docker_known" whether its service answered: names kept from before executors."""
    obs, st = row.obs, row.status
    p = obs.progress
    out: dict[str, Any] = {
        "job": row.job.id,
        "task": row.job.task,
        "state": st.state,
        "reason": st.reason,
        "exit_code": st.exit_code,
        "progress": None
        if p is None
        else {
            "done": p.done,
            "failed": p.failed,
            "total": p.total,
            "rate_per_s": p.rate_per_s,
            "eta_s": p.eta_s,
        },
        "container": None
        if obs.unit is None
        else {"name": obs.unit.name, "state": obs.unit.state, "exit_code": obs.unit.exit_code},
        "docker_known": obs.known,
        "elapsed_s": None if st.elapsed_s is None else round(st.elapsed_s, 1),
        "folder": str(row.job.folder),
    }
    if obs.attempt:
        out["attempt"] = obs.attempt
    return out


def status_json(invocation: Invocation, rows: Sequence[JobRow], snapshot: Snapshot) -> str:
    return json.dumps(
        {
            "invocation": invocation.id,
            "folder": str(invocation.folder),
            "mode": invocation.mode,
            "executor": invocation.executor,
            "placement": placement(invocation),
            "counts": counts(rows),
            "warning": snapshot.warning,
            "driver": snapshot.drivers.get(invocation.id),  # what still drives it, if anything
            "jobs": [row_dict(r) for r in rows],
        },
        indent=2,
    )


def list_table(
    invocations: Sequence[Invocation], snapshot: Snapshot, broken: dict[str, str]
) -> str:
    """`inv ls`: one line per invocation, newest first."""
    from tabulate import tabulate

    body = []
    for inv in invocations:
        rows = snapshot.of(inv)
        states = counts_text(rows)
        body.append(
            [inv.id, f"{inv.created:%Y-%m-%d %H:%M:%S}", len(inv.jobs), states, inv.folder.name]
        )
    for name, why in broken.items():
        body.append(["?", "", "", f"unreadable: {why}", name])
    text = tabulate(body, headers=["invocation", "created (UTC)", "jobs", "states", "folder"])
    if snapshot.warning:
        text += f"\n\nwarning: {snapshot.warning}"
    return text


def list_json(invocations: Sequence[Invocation], snapshot: Snapshot, broken: dict[str, str]) -> str:
    return json.dumps(
        {
            "invocations": [
                {
                    "invocation": inv.id,
                    "created": inv.created.isoformat(),
                    "folder": str(inv.folder),
                    "jobs": len(inv.jobs),
                    "counts": counts(snapshot.of(inv)),
                }
                for inv in invocations
            ],
            "unreadable": broken,
            "warning": snapshot.warning,
        },
        indent=2,
    )
