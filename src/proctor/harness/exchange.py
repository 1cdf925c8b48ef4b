"""The files the harness writes and the launcher reads, one pydantic model each.

``JournalLine`` (a line of samples.jsonl), ``ProgressFile`` (progress.json),
``ResultsFile`` (results.json and results.yml) and ``InvocationRecord``
(invocation.yaml, written by the launcher) are used by the writer and by every reader,
so the format is defined once. Only pydantic is needed: the harness image imports this.

Each carries ``schema_version`` first; files written before the field existed read as
version 1. Field order is part of the format (the writers keep it). Readers are
tolerant: ``parse`` returns None for what is not a well-formed file or line (torn,
hand-edited, NaN), and the caller skips and counts it; it never raises.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor.harness.untrusted import loads

SCHEMA_VERSION = 1

# A real number that is finite, kept as written (an int stays an int): bools, strings and
# NaN are not numbers here.
Finite = (
    Annotated[int, Field(strict=True)] | Annotated[float, Field(strict=True, allow_inf_nan=False)]
)
Count = Annotated[int, Field(strict=True, ge=0)]


class _File(BaseModel):
    # Unknown keys are kept (a newer writer, a benchmark's own fields), not refused.
    model_config = ConfigDict(
        extra="allow", protected_namespaces=(), coerce_numbers_to_str=True, defer_build=True
    )

    @classmethod
    def parse(cls, raw: str | bytes | Any) -> Any:
        """The model of ``raw`` (JSON text, or already-parsed data), or None if it is not one."""
        try:
            data = loads(raw) if isinstance(raw, str | bytes) else raw
            return cls.model_validate(data)
        except (ValueError, ValidationError):  # ValidationError is a ValueError too
            return None


# -- samples.jsonl ---------------------------------------------------------------------------


class Usage(_File):
    prompt_tokens: Finite | None = None
    completion_tokens: Finite | None = None


class JournalLine(_File):
    """One finished (sample id, repeat): written only after it is scored or failed for good."""

    schema_version: int = SCHEMA_VERSION
    id: str
    repeat: Count
    config_hash: str | None = None
    status: Literal["scored", "error"]
    prompt: Any = None
    response: Any = None
    reasoning: Any = None
    finish_reason: Any = None
    usage: Usage | None = None
    latency_s: Finite | None = None
    attempts: Any = None
    target: Any = None
    extracted: Any = None
    scores: dict[str, Finite] | None = None
    error: Any = None
    time: Any = None
    # Only on the lines of benchmarks that have them (left out otherwise).
    loglikelihood: Any = None
    judgement: dict[str, Any] | None = None
    fewshot: list[Any] | None = None  # the few-shot example ids, in prompt order

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        if isinstance(v, bool | float):  # only strings and whole numbers name a sample
            raise ValueError("not a sample id")
        return v

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.repeat)

    @property
    def scored(self) -> bool:
        return self.status == "scored"

    def numbers(self) -> dict[str, float]:
        """The scores of a scored line; {} for an error line."""
        return {k: float(v) for k, v in (self.scores or {}).items()} if self.scored else {}

    def dump(self) -> dict[str, Any]:
        """The line as written: optional benchmark fields only when present."""
        optional = {
            name
            for name in ("loglikelihood", "judgement", "fewshot")
            if getattr(self, name) is None
        }
        return self.model_dump(mode="python", exclude=optional)


# -- progress.json ---------------------------------------------------------------------------


class ProgressFile(_File):
    """How far a running task is; replaced atomically about once a second."""

    schema_version: int = SCHEMA_VERSION
    done: int
    failed: int = 0
    total: int
    rate_per_s: Finite | None = None
    eta_s: Finite | None = None
    updated_at: str | None = None

    @field_validator("failed", mode="before")
    @classmethod
    def _failed(cls, v: Any) -> Any:
        return 0 if v is None else v


# -- results.json ----------------------------------------------------------------------------


class MetricValue(_File):
    value: Finite
    stderr: Finite | None = None
    ci_low: Finite | None = None
    ci_high: Finite | None = None
    n: int | None = None


class Counts(_File):
    total: int
    scored: int
    errors: int


class ResultsFile(_File):
    """A finished task: metrics with their 95% CI, counts, usage, latency, timing."""

    schema_version: int = SCHEMA_VERSION
    task: str | None = None
    benchmark: str | None = None
    model_id: str | None = None
    config_hash: str | None = None
    harness_version: str | None = None
    status: str  # ok | error_rate_exceeded
    max_error_rate: Finite | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    counts: Counts
    usage: dict[str, Any] = Field(default_factory=dict)
    latency_s: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def parse_skipping_metrics(cls, raw: str | bytes | Any) -> tuple[ResultsFile | None, int]:
        """Like ``parse``, but a metric that is not well-formed (a value that is not a
        finite number) is left out instead of refusing the file; returns how many were."""
        try:
            data = loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError:
            return None, 0
        metrics = data.get("metrics") if isinstance(data, dict) else None
        if not isinstance(metrics, dict):
            return cls.parse(data), 0
        good = {k: m for k, m in metrics.items() if MetricValue.parse(m) is not None}
        return cls.parse({**data, "metrics": good}), len(metrics) - len(good)


# -- invocation.yaml -------------------------------------------------------------------------


class JobRecord(_File):
    id: str
    index: int
    task: str
    benchmark: str | None = None
    image: str | None = None
    container: str | None = None  # the job's name on its executor (locally the container's)
    config_hash: str | None = None


class InvocationRecord(_File):
    """invocation.yaml: the resolved config (names of secrets, never values) and the jobs.

    Executors add their own top-level keys (local: ``network``), kept as extra fields.
    """

    schema_version: int = SCHEMA_VERSION
    id: str
    created: str | None = None
    proctor_version: str | None = None
    config_path: str | None = None
    config_hash: str | None = None
    env_file: str | None = None
    deployment: dict[str, Any] | None = None
    jobs: list[JobRecord]
    config: dict[str, Any] | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _created(cls, v: Any) -> Any:
        return None if v is None else str(v)  # YAML may have read it as a datetime
