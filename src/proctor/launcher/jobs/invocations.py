"""Invocations on disk: scan outputs/, read invocation.yaml, resolve ids.

There is no database: an invocation is a folder ``<YYYYmmdd-HHMMSS>-<8 hex>`` under the
outputs folder and its id is the 8 hex. Any unique prefix names one; a job is
``<invocation>.<n>`` (its index) or ``<invocation>/<task>`` (its folder name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from proctor.harness.exchange import InvocationRecord
from proctor.launcher import names
from proctor.launcher.errors import ProctorError

DEFAULT_OUTPUTS = "outputs"
RECORD = "invocation.yaml"
_JOB_ID = re.compile(r"[A-Za-z0-9_-]+\.[0-9]+")
FOLDER = re.compile(r"^(?P<stamp>\d{8}-\d{6})-(?P<id>[0-9a-f]{8})$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster


@dataclass(frozen=True)
class JobRef:
    """One job of an invocation, as recorded in invocation.yaml."""

    id: str  # "<invocation>.<index>"
    index: int
    task: str  # its folder name
    folder: Path

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def artifacts(self) -> Path:
        return self.folder / "artifacts"


@dataclass(frozen=True)
class Invocation:
    id: str
    folder: Path
    created: datetime
    jobs: tuple[JobRef, ...]
    mode: str  # parallel | sequential
    max_parallel: int
    deployment: bool
    config_path: str
    executor: str = "local"  # execution.type: which executor runs its jobs
    # The recorded execution section (only its executor reads its own keys).
    execution: Mapping[str, Any] = field(default_factory=dict)

    def job(self, *, index: int | None = None, task: str | None = None) -> JobRef:
        """A job by index or by task folder name; ProctorError naming the choices."""
        for job in self.jobs:
            if job.index == index or job.task == task:
                return job
        asked = f"{self.id}.{index}" if task is None else f"{self.id}/{task}"
        have = ", ".join(f"{self.id}.{j.index} = {self.id}/{j.task}" for j in self.jobs)
        raise ProctorError(f"no job {asked} (this invocation has {have})")


@dataclass(frozen=True)
class Selection:
    """What an id on the command line names: a whole invocation, or some of its jobs."""

    invocation: Invocation
    jobs: tuple[JobRef, ...]
    whole: bool


def outputs_dir(path: str | Path | None = None) -> Path:
    """The outputs folder to scan (default ./outputs); ProctorError if it does not exist."""
    out = Path(path or DEFAULT_OUTPUTS).expanduser()
    if not out.is_dir():
        raise ProctorError(
            f"no invocations: {out} does not exist (start one with inv run, or pass --outputs DIR)"
        )
    return out


def scan(outputs: Path) -> list[Path]:
    """Every invocation folder, newest first (the folder names sort by time)."""
    try:
        names = [e.name for e in outputs.iterdir() if FOLDER.match(e.name) and e.is_dir()]
    except OSError as e:
        raise ProctorError(f"cannot read {outputs}: {e.strerror or e}") from None
    return [outputs / name for name in sorted(names, reverse=True)]


def invocation_id(folder: Path) -> str:
    match = FOLDER.match(folder.name)
    return match["id"] if match else folder.name


def load(folder: Path) -> Invocation:
    """Read one invocation folder; ProctorError when its invocation.yaml is unusable."""
    path = folder / RECORD
    try:
        with open(path, encoding="utf-8") as f:
            record: Any = yaml.load(f, Loader=_LOADER)
    except OSError as e:
        raise ProctorError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ProctorError(f"{path} is not UTF-8 text: was it edited by hand?") from None
    except yaml.YAMLError:
        raise ProctorError(f"{path} is not valid YAML: was it edited by hand?") from None
    parsed: InvocationRecord | None = InvocationRecord.parse(record)
    if parsed is None:
        raise ProctorError(f"{path} lacks the id or the job list: was it edited by hand?")
    for j in parsed.jobs:
        # The file is data: a task or id with "../" or a newline must not become a path.
        if names.task_name_problem(j.task) or not _JOB_ID.fullmatch(j.id):
            raise ProctorError(
                f"{path}: job {j.id[:40]!r} has an unusable task or id "
                f"{j.task[:40]!r}: was it edited by hand?"
            )
    jobs = tuple(
        JobRef(id=j.id, index=j.index, task=j.task, folder=folder / j.task) for j in parsed.jobs
    )
    execution = (parsed.config or {}).get("execution")
    execution = execution if isinstance(execution, dict) else {}
    match = FOLDER.match(folder.name)
    try:
        created = (
            datetime.strptime(match["stamp"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            if match
            else datetime.fromisoformat(str(parsed.created))
        )
        return Invocation(
            id=parsed.id,
            folder=folder,
            created=created,
            jobs=jobs,
            mode=str(execution.get("mode", "parallel")),
            max_parallel=int(execution.get("max_parallel", 4)),
            deployment=bool(parsed.deployment),
            config_path=parsed.config_path or "",
            executor=str(execution.get("type") or "local"),
            execution=execution,
        )
    except (TypeError, ValueError):
        raise ProctorError(f"{path} lacks the id or the job list: was it edited by hand?") from None


def find(outputs: Path, prefix: str) -> Path:
    """The one invocation folder whose id (or folder name) starts with ``prefix``."""
    prefix = prefix.strip().rstrip("/")
    if not prefix:
        raise ProctorError("empty invocation id: give a prefix of one (inv ls lists them)")
    folders = scan(outputs)
    hits = [f for f in folders if invocation_id(f).startswith(prefix) or f.name.startswith(prefix)]
    if not hits:
        raise ProctorError(f"no invocation {prefix!r} in {outputs} (inv ls lists them)")
    if len(hits) > 1:
        shown = ", ".join(f.name for f in hits[:10]) + (" ..." if len(hits) > 10 else "")
        raise ProctorError(
            f"invocation id {prefix!r} is ambiguous: {len(hits)} match ({shown}); type more of it"
        )
    return hits[0]


def latest(outputs: Path) -> Path:
    folders = scan(outputs)
    if not folders:
        raise ProctorError(f"no invocations in {outputs} yet: start one with inv run --config FILE")
    return folders[0]


def resolve(outputs: Path, ident: str | None) -> Selection:
    """An invocation (prefix), ``<inv>.<n>`` or ``<inv>/<task>``; None means the latest."""
    if not ident:
        inv = load(latest(outputs))
        return Selection(inv, inv.jobs, whole=True)
    ident = ident.strip()
    inv_part, slash, task = ident.partition("/")
    index = None
    if not slash and "." in ident:
        inv_part, _, number = ident.partition(".")
        if not number.isdigit():
            raise ProctorError(
                f"bad job id {ident!r}: write <invocation>.<n> (e.g. {inv_part}.0) "
                "or <invocation>/<task>"
            )
        index = int(number)
    inv = load(find(outputs, inv_part))
    if index is None and not task:
        return Selection(inv, inv.jobs, whole=True)
    return Selection(inv, (inv.job(index=index, task=task or None),), whole=False)


def invocation(outputs: Path, ident: str | None) -> Invocation:
    """An invocation by id prefix (None: the latest); a job id is an error here."""
    selection = resolve(outputs, ident)
    if not selection.whole:
        raise ProctorError(
            f"{ident!r} names a job; give its invocation id (the part before . or /)"
        )
    return selection.invocation
