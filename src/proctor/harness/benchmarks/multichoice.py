"""The multiple-choice prompt and scorer shared by MMLU, ARC and the jsonl benchmark.

Prompt after openai/simple-evals (``common.py``, QUERY_TEMPLATE_MULTICHOICE), generalised
from A-D to however many choices an item has.
"""

from __future__ import annotations

from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.scoring import LETTERS, extract_choice_letter

TEMPLATE = """\
Answer the following multiple choice question. The last line of your response should be of \
the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. \
Think step by step before answering.

{question}

{options}"""

MAX_CHOICES = 10  # A-J


def prompt(question: str, choices: list[str]) -> str:
    """The question with its choices lettered A, B, C, ..."""
    if not 2 <= len(choices) <= MAX_CHOICES:
        raise ValueError(f"a question needs 2 to {MAX_CHOICES} choices, got {len(choices)}")
    letters = LETTERS[: len(choices)]
    options = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, choices, strict=True))
    return TEMPLATE.format(letters="".join(letters), question=question.strip(), options=options)


def score(sample: Sample, response: str) -> Score:
    """accuracy 1.0 when the response commits to the target letter; meta["letters"] are valid."""
    extracted = extract_choice_letter(response, sample.meta["letters"])
    return Score(extracted=extracted, scores={"accuracy": float(extracted == sample.target)})
