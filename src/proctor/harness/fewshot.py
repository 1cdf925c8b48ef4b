"""Few-shot prompts: ``params.num_fewshot`` worked examples before each question.

Conventions of lm-evaluation-harness (``lm_eval/api/samplers.py``, ``ConfigurableTask.
fewshot_context`` and ``build_qa_turn`` in ``lm_eval/api/task.py``, ``multiturn_to_singleturn``
in ``lm_eval/api/utils.py``), which proctor follows:

- The pool is the benchmark's few-shot split (MMLU: the subject's dev split; ARC: the
  validation split, lm-eval's rule when a task has no training split here; GSM8K: the 8
  chain-of-thought exemplars of Wei et al. 2022 that lm-eval's ``gsm8k-cot`` uses).
- Sampler ``first_n`` (MMLU, GSM8K-CoT: the canonical examples in order) or ``random``
  (lm-eval's ``default`` sampler: draw n + 1, drop the sample itself, keep n). The sample
  itself is never one of its examples (``rm_eval_doc``), compared by id.
- On a chat endpoint, ``fewshot_as_multiturn`` sends each example as a user turn and an
  assistant turn, then the question; otherwise everything is one user message (a system
  prompt stays its own message): example question, answer, examples separated by a blank
  line (lm-eval's ``fewshot_delimiter``). A completions endpoint always gets that one text.

Where proctor differs, and why:

- The random draw is seeded per sample (``random.Random(f"{seed}:{sample id}")``) rather
  than by one generator shared over the run in evaluation order, so a sample's examples
  are the same in a subset, a resume or another order. They are recorded in the journal
  (``fewshot``: the example ids) and ``num_fewshot``/``fewshot_as_multiturn`` are in the
  config hash.
- Question and answer are separated by a newline (lm-eval's ``target_delimiter`` is a
  space), because proctor's prompts end with the options or the question, not "Answer:".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable

from proctor.harness.benchmarks.base import Message, Sample
from proctor.harness.taskfile import Params

Sampler = Literal["first_n", "random"]
TARGET_DELIMITER = "\n"
FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class Shot:
    """One worked example: the prompt the benchmark would send for it and a right answer."""

    id: str
    question: str
    answer: str


@runtime_checkable
class HasFewShot(Protocol):
    """A benchmark with a few-shot split."""

    name: str
    fewshot_sampler: Sampler

    def fewshot_pool(self, sample: Sample) -> Sequence[Shot]:
        """The examples ``sample`` may be shown, in the split's order."""
        ...


def shots(benchmark: object, params: Params) -> int:
    """How many examples each question gets: ``params.num_fewshot``, or when it is unset the
    benchmark's standard (``fewshot_default``: 0, or 5 for the OLMES tasks)."""
    if params.num_fewshot is not None:
        return params.num_fewshot
    return int(getattr(benchmark, "fewshot_default", 0))


def choose(pool: Sequence[Shot], n: int, sample_id: str, seed: int, sampler: Sampler) -> list[Shot]:
    """``n`` examples for one sample, never the sample itself; ValueError if too few."""
    candidates = [shot for shot in pool if shot.id != sample_id]
    if n > len(candidates):
        raise ValueError(
            f"params.num_fewshot is {n}, but only {len(candidates)} examples are available"
        )
    if sampler == "first_n":
        return candidates[:n]
    rng = random.Random(f"{seed}:{sample_id}")  # str seeds hash with SHA-512: stable
    drawn = rng.sample(list(pool), min(n + 1, len(pool)))
    return [shot for shot in drawn if shot.id != sample_id][:n]


def build(
    prompt: list[Message] | str, shots: Sequence[Shot], multiturn: bool
) -> list[Message] | str:
    """The sample's prompt with ``shots`` before it (see the module docstring for the shape)."""
    if isinstance(prompt, str):
        system: list[Message] = []
        question = prompt
    else:
        system = [m for m in prompt[:1] if m.get("role") == "system"]
        rest = prompt[len(system) :]
        if len(rest) != 1 or rest[0].get("role") != "user":
            raise ValueError("few-shot examples need a prompt that is one question")
        question = rest[0]["content"]
    if multiturn:
        turns: list[Message] = []
        for shot in shots:
            turns += [
                {"role": "user", "content": shot.question},
                {"role": "assistant", "content": shot.answer},
            ]
        return [*system, *turns, {"role": "user", "content": question}]
    text = "".join(
        f"{shot.question}{TARGET_DELIMITER}{shot.answer}{FEWSHOT_DELIMITER}" for shot in shots
    )
    if system:
        return [*system, {"role": "user", "content": text + question}]
    return text + question


def apply(
    benchmark: object, samples: Sequence[Sample], n: int, seed: int, multiturn: bool
) -> list[Sample]:
    """``samples`` with ``n`` examples in each prompt and their ids in ``meta["fewshot"]``.

    A benchmark whose examples come with its requests (``fixed_shots``, the OLMES tasks)
    has put them there in ``load`` already; its samples pass unchanged.

    Raises:
        ValueError: The benchmark has no few-shot split, or too few examples.
    """
    if n == 0 or getattr(benchmark, "fixed_shots", None):
        return list(samples)
    if not isinstance(benchmark, HasFewShot):
        name = getattr(benchmark, "name", "this benchmark")
        raise ValueError(f"params.num_fewshot: {name} has no few-shot examples; leave it at 0")
    out = []
    for sample in samples:
        shots = choose(
            benchmark.fewshot_pool(sample), n, sample.id, seed, benchmark.fewshot_sampler
        )
        meta = {**sample.meta, "fewshot": [shot.id for shot in shots]}
        out.append(replace(sample, prompt=build(sample.prompt, shots, multiturn), meta=meta))
    return out
