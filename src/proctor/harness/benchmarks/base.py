"""The small vocabulary every benchmark speaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from proctor.harness.taskfile import Params

Message = dict[str, str]


@dataclass(frozen=True)
class Sample:
    """One benchmark item. ``prompt`` is chat messages, or plain text for completions."""

    id: str
    prompt: list[Message] | str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """What the scorer made of one response: the extracted answer and one value per metric.

    A metric whose values are all 0 or 1 is a proportion (its CI is Wilson's); others get a
    normal CI (see proctor.harness.metrics).
    """

    extracted: Any
    scores: dict[str, float]


class Benchmark(Protocol):
    """A named benchmark: loads its samples and scores one response at a time."""

    name: str
    endpoint_types: tuple[str, ...]  # which of "chat", "completions" it supports
    default_max_tokens: int

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        """All samples in a stable order (subsetting and repeats are the runner's job)."""
        ...

    def score(self, sample: Sample, response: str) -> Score:
        """Score one response (reasoning already stripped). Must not raise on garbage."""
        ...


class ExecutesCode(Benchmark, Protocol):
    """A benchmark that runs the model's code: it scores only once bound to a sandbox.

    The runner sees ``needs_sandbox`` and calls ``with_sandbox`` before scoring; ``score``
    then blocks while the program runs, so the runner calls it from a worker thread.
    """

    needs_sandbox: bool

    def with_sandbox(self, sandbox: Any) -> Benchmark:
        """A copy of this benchmark that runs programs in ``sandbox`` (a harness.sandbox.Sandbox)."""
        ...


class Aggregates(Benchmark, Protocol):
    """A benchmark with metrics over each sample's repeats (pass@k), beside the per-sample means."""

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        """Metric name -> the values whose mean is the metric (one per problem for pass@k,
        one per instruction for IFEval), from every scored repeat's scores by sample id.

        A metric returned here replaces the per-sample mean of the same name.
        """
        ...
