"""The harness input, task.yaml: the only thing the launcher hands to a task.

Field order is part of the on-disk format; bump ``schema_version`` on any change
that an older harness could misread.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.harness.bodies import DEFAULT_MAX_RESPONSE_BYTES
from proctor.harness.shaping import check_extra_body, check_headers

SCHEMA_VERSION: Final = 1
MAX_REPEATS: Final = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), defer_build=True
    )


class Endpoint(_Strict):
    """Where to send requests. Holds the *name* of the key's variable, never its value."""

    url: str
    model_id: str
    type: Literal["chat", "completions"] = "chat"
    api_key_name: str | None = None
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra header -> NAME of the variable with its value"
    )

    _check_headers = field_validator("headers")(classmethod(lambda cls, v: check_headers(v)))


class Params(_Strict):
    """Generation and run parameters of one task (merged: evaluation.params, then the task's)."""

    limit_samples: int | float | None = Field(
        default=None, description="a count (>= 1) or a fraction in (0, 1): seeded subset"
    )
    # Bounded: the plan holds one item per (sample, repeat), so 10**9 repeats would
    # exhaust memory before the first request.
    n_repeats: int = Field(default=1, ge=1, le=MAX_REPEATS)
    parallelism: int = Field(default=8, ge=1, le=1024)
    request_timeout: float = Field(default=120.0, gt=0, le=86400, allow_inf_nan=False)
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        le=1024**3,
        description="largest decoded reply body accepted; a larger one is a sample error",
    )
    max_retries: int = Field(default=5, ge=0, le=100)
    max_error_rate: float = Field(default=0.05, ge=0, le=1, allow_inf_nan=False)
    # Finite: json.dumps writes inf as Infinity, which no server parses as JSON.
    temperature: float = Field(default=0.0, ge=0, le=100, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    seed: int = Field(default=1234, ge=-(2**63), lt=2**63)
    stop: list[str] | None = None
    system_prompt: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="benchmark-specific options")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="deep-merged into every request body"
    )
    num_fewshot: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="worked examples per question; unset: the benchmark's standard (0, OLMES 5)",
    )
    fewshot_as_multiturn: bool = Field(
        default=True, description="chat: examples as user/assistant turns, else one message"
    )

    _check_extra_body = field_validator("extra_body")(
        classmethod(lambda cls, v: check_extra_body(v))
    )

    @field_validator("limit_samples", mode="before")
    @classmethod
    def _limit_not_bool(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("must be a count (>= 1) or a fraction in (0, 1), not a boolean")
        return v

    @field_validator("limit_samples")
    @classmethod
    def _limit_positive(cls, v: int | float | None) -> int | float | None:
        if v is None:
            return v
        if isinstance(v, bool):
            raise ValueError("must be a count (>= 1) or a fraction in (0, 1)")
        if isinstance(v, float) and not v.is_integer():
            if not 0 < v < 1:
                raise ValueError("a fraction must lie in (0, 1)")
            return v
        if v < 1:
            raise ValueError("must be a count (>= 1) or a fraction in (0, 1)")
        return int(v)


class JudgeParams(_Strict):
    """How the judge is asked: its generation parameters and its own request limits.

    Judges grade at temperature 0 by default (FastChat llm_judge, arena-hard-auto);
    ``max_tokens`` unset means the benchmark's default for its judge.
    """

    parallelism: int = Field(default=8, ge=1, le=1024)
    request_timeout: float = Field(default=120.0, gt=0, le=86400, allow_inf_nan=False)
    max_retries: int = Field(default=5, ge=0, le=100)
    temperature: float = Field(default=0.0, ge=0, le=100, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    seed: int = Field(default=1234, ge=-(2**63), lt=2**63)
    stop: list[str] | None = None

    def as_params(self) -> Params:
        """The same settings as the Params a Client takes (other Params at their defaults)."""
        return Params.model_validate(self.model_dump())


class Judge(_Strict):
    """The model that grades the answers: an endpoint like the target's, its key by name."""

    url: str
    model_id: str
    type: Literal["chat", "completions"] = "chat"
    api_key_name: str | None = None
    params: JudgeParams = Field(default_factory=JudgeParams)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            url=self.url, model_id=self.model_id, type=self.type, api_key_name=self.api_key_name
        )


# Parameters that change how fast a run goes, not what it measures: they may differ
# between a run and its resume.
_OPERATIONAL = {
    "parallelism",
    "request_timeout",
    "max_retries",
    "max_error_rate",
    "max_response_bytes",
}
# Parameters added after journals existed: hashed only when set, so that a journal written
# before they existed still resumes under the same hash.
_HASHED_WHEN_SET = ("extra_body", "num_fewshot", "fewshot_as_multiturn")


class TaskSpec(_Strict):
    """One evaluation task as the harness sees it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    benchmark: str
    endpoint: Endpoint
    params: Params = Field(default_factory=Params)
    dataset_dir: str | None = None
    judge: Judge | None = None

    def config_hash(self) -> str:
        """Hash of everything that decides which samples exist and what they score.

        The endpoint URLs (target's and judge's) and the operational parameters are left out so that a
        resume against a restarted server, or with more parallelism, continues
        the same journal.
        """
        params = {k: v for k, v in self.params.model_dump().items() if k not in _OPERATIONAL}
        # Unset, 0 and the benchmark's standard written out hash alike (0 as before it existed).
        params["num_fewshot"] = self._shots() or None
        for name in _HASHED_WHEN_SET:
            if params[name] == Params.model_fields[name].get_default(call_default_factory=True):
                del params[name]
        if not params.get("num_fewshot"):
            params.pop("fewshot_as_multiturn", None)  # no examples: their shape decides nothing
        basis: dict[str, Any] = {
            "benchmark": self.benchmark,
            "model_id": self.endpoint.model_id,
            "type": self.endpoint.type,
            "params": params,
            "dataset_dir": self.dataset_dir,
        }
        if self.judge is not None:  # absent key: the hash of a judge-less task is unchanged
            judge = self.judge.params.model_dump()
            basis["judge"] = {
                "model_id": self.judge.model_id,
                "type": self.judge.type,
                "params": {k: v for k, v in judge.items() if k not in _OPERATIONAL},
            }
        canonical = json.dumps(basis, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def _shots(self) -> int:
        from proctor.harness import benchmarks, fewshot  # they import this module

        try:
            benchmark = benchmarks.get(self.benchmark)
        except KeyError:  # not a built-in benchmark: no standard to fill in
            benchmark = None
        return fewshot.shots(benchmark, self.params)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def load(cls, path: Path) -> TaskSpec:
        with open(path, encoding="utf-8") as f:
            return cls.model_validate(yaml.safe_load(f))
