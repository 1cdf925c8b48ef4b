"""The small vocabulary every benchmark speaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from proctor.harness.taskfile import Params

# Sample.meta key holding a log-likelihood sample's list of Choice
# (proctor.harness.loglikelihood scores them).
CHOICES = "loglikelihood_choices"


@dataclass(frozen=True)
class Choice:
    """One option of a log-likelihood sample.

    Attributes:
        context: What the model is conditioned on (Winogrande: differs per choice).
        continuation: What is scored (Winogrande: the same for every choice).
        text: The string acc_norm measures, lm-eval's ``doc_to_choice`` entry.
    """

    context: str
    continuation: str
    text: str


Message = dict[str, str]


@dataclass(frozen=True)
class Sample:
    """One benchmark item. ``prompt`` is chat messages, or plain text for completions.

    ``followups`` are later user turns of a multi-turn conversation (MT-Bench's second
    question): each is sent after the model's own reply to the turn before it.
    """

    id: str
    prompt: list[Message] | str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    followups: tuple[str, ...] = ()


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


class UnparseableVerdict(ValueError):
    """A judge reply that holds no verdict in the expected format: an error of its sample
    (retried on resume), never a score."""


class Judged(Benchmark, Protocol):
    """A benchmark whose answers another model grades (proctor.harness.judge runs it).

    The runner asks the target for every turn's answer, journals the answers, then sends
    ``judge_requests`` to the task's judge and turns the replies into scores with
    ``verdict``. ``score`` is never called when ``needs_judge(params)`` is true.
    """

    default_judge_max_tokens: int

    def needs_judge(self, params: Params) -> bool:
        """Whether these params make the benchmark judge-scored (jsonl only with scorer judge)."""
        ...

    def judge_requests(self, sample: Sample, answers: Sequence[str]) -> list[list[Message]]:
        """The chat messages of every judge request this sample needs (one per turn, or one
        per order of a pairwise comparison)."""
        ...

    def verdict(self, sample: Sample, answers: Sequence[str], replies: Sequence[str]) -> Score:
        """Scores from the judge's replies, in the order of judge_requests.

        Raises:
            UnparseableVerdict: A reply holds no verdict.
        """
        ...


def judged_by(benchmark: Benchmark, params: Params) -> bool:
    """Whether ``benchmark`` with ``params`` is scored by a judge (see Judged)."""
    needs = getattr(benchmark, "needs_judge", None)
    return bool(needs(params)) if callable(needs) else False


def check_params(benchmark: Benchmark, params: Params) -> None:
    """Check the benchmark's own options before anything starts (the launcher calls this at
    ``inv run``; ``load`` checks them again). A benchmark with options defines
    ``check_params(params)``.

    Raises:
        ValueError: An option's value, named (``extra.formulation must be ...``).
    """
    check = getattr(benchmark, "check_params", None)
    if callable(check):
        check(params)


def endpoint_types(benchmark: Benchmark, params: Params) -> tuple[tuple[str, ...], str]:
    """The endpoint types ``benchmark`` can run with ``params`` and, when options narrowed
    them, which option did (for the error): its ``endpoint_types``, or what
    ``endpoint_types_for(params)`` says (jsonl scored by log-likelihood needs a completions
    endpoint: ``(("completions",), "extra.scoring: loglikelihood")``)."""
    narrow = getattr(benchmark, "endpoint_types_for", None)
    if not callable(narrow):
        return benchmark.endpoint_types, ""
    types, because = narrow(params)
    return tuple(types), because
