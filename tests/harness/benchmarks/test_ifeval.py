"""IFEval: the 541 prompts load and every instruction builds; for each of the 25 instruction
kinds a response built to follow it passes and one built to break it fails (strict and
loose); the loose variants forgive what they should; garbage scores 0 without raising; a
seeded subset end to end through the runner reports the four metrics, instruction-level
ones pooled over instructions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks import ifeval
from proctor.harness.benchmarks.base import Sample
from proctor.harness.runner import EXIT_OK, run_task
from proctor.harness.taskfile import Endpoint, Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint, prompt_key
from tests.harness.benchmarks.test_oracle import GARBAGE

GERMAN = "Heute ist ein schöner Tag, und ich gehe mit meinem Hund lange im Park spazieren."
ENGLISH = "Today is a beautiful day, and I am taking my dog for a long walk in the park."

# instruction id -> (kwargs, a response that follows it, a response that breaks it)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "punctuation:no_comma": ({}, "No commas in here at all.", "Well, here is one."),
    "length_constraints:number_words": (
        {"relation": "at least", "num_words": 10},
        "one two three four five six seven eight nine ten eleven",
        "just four words here",
    ),
    "length_constraints:number_sentences": (
        {"relation": "less than", "num_sentences": 3},
        "Mr. Smith arrived at 3 p.m. on Monday. He left.",
        "One. Two. Three. Four.",
    ),
    "keywords:forbidden_words": (
        {"forbidden_words": ["rock"]},
        "I like jazz.",
        "I like Rock music.",
    ),
    "detectable_format:number_highlighted_sections": (
        {"num_highlights": 2},
        "Intro *first part* and *second part*.",
        "Only *one part* here.",
    ),
    "keywords:frequency": (
        {"relation": "at least", "keyword": "story", "frequency": 2},
        "A story about a story.",
        "A story.",
    ),
    "combination:repeat_prompt": (
        {"prompt_to_repeat": "Write a haiku about rain."},
        "Write a haiku about rain. Rain taps on the roof...",
        "Rain taps on the roof...",
    ),
    "startend:quotation": ({}, '"All of it is quoted."', "Nothing quoted."),
    "change_case:english_lowercase": (
        {},
        "this whole answer is written in lowercase english letters only.",
        "This answer has Capital letters in it.",
    ),
    "keywords:existence": (
        {"keywords": ["correlated", "experiencing"]},
        "Those experiencing stress are correlated with poor sleep.",
        "Those under stress sleep poorly.",
    ),
    "detectable_format:title": ({}, "<<A Title>>\nThe text.", "A Title\nThe text."),
    "keywords:letter_frequency": (
        {"let_relation": "at least", "letter": "z", "let_frequency": 3},
        "The lazy zebra dozed.",
        "The lazy dog slept.",
    ),
    "detectable_format:number_bullet_lists": (
        {"num_bullets": 2},
        "Points:\n* first\n* second",
        "Points:\n* only one",
    ),
    "language:response_language": ({"language": "de"}, GERMAN, ENGLISH),
    "detectable_content:number_placeholders": (
        {"num_placeholders": 2},
        "Dear [name], see you at [address].",
        "Dear [name], see you soon.",
    ),
    "length_constraints:number_paragraphs": (
        {"num_paragraphs": 2},
        "First paragraph.\n***\nSecond paragraph.",
        "One paragraph only.",
    ),
    "startend:end_checker": (
        {"end_phrase": "Any other questions?"},
        "That is all. Any other questions?",
        "Any other questions? That is all.",
    ),
    "detectable_content:postscript": (
        {"postscript_marker": "P.S."},
        "Hello there.\n\nP.S. See you soon.",
        "Hello there.",
    ),
    "change_case:english_capital": (
        {},
        "THIS WHOLE ANSWER IS WRITTEN IN CAPITAL ENGLISH LETTERS.",
        "This answer is written in ordinary English letters.",
    ),
    "change_case:capital_word_frequency": (
        {"capital_relation": "at least", "capital_frequency": 2},
        "The BIG RED dog.",
        "The big red dog.",
    ),
    "combination:two_responses": (
        {},
        "The first answer.\n******\nThe second answer.",
        "Just one answer.",
    ),
    "detectable_format:json_format": ({}, '```json\n{"answer": 42}\n```', "The answer is 42."),
    "detectable_format:multiple_sections": (
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\nAlpha.\nSection 2\nBeta.",
        "Alpha and beta.",
    ),
    "length_constraints:nth_paragraph_first_word": (
        {"first_word": "weekend", "num_paragraphs": 2, "nth_paragraph": 2},
        "Friday was long.\n\nWeekend plans came next.",
        "Friday was long.\n\nPlans for the weekend came next.",
    ),
    "detectable_format:constrained_response": ({}, "My answer is yes.", "Perhaps, who knows."),
}


def sample(instruction: str, kwargs: dict[str, Any], prompt: str = "Do as you are told.") -> Sample:
    return Sample(
        id="ifeval/test",
        prompt=prompt,
        target=[instruction],
        meta={"key": 0, "instructions": [instruction], "kwargs": [kwargs]},
    )


def test_prompts_load_and_every_instruction_builds() -> None:
    samples = benchmarks.get("ifeval").load(Params(), None)
    assert len(samples) == 541 == len({s.id for s in samples})
    registry = ifeval.checker().instructions_registry.INSTRUCTION_DICT
    kinds = {i for s in samples for i in s.meta["instructions"]}
    assert kinds == set(CASES) and kinds <= set(registry)
    assert sum(len(s.meta["instructions"]) for s in samples) == 834
    for s in samples:
        for instruction, kwargs in zip(s.meta["instructions"], s.meta["kwargs"], strict=True):
            registry[instruction](instruction).build_description(**kwargs)


@pytest.mark.parametrize("instruction", sorted(CASES))
def test_followed_passes_and_broken_fails(instruction: str) -> None:
    kwargs, good, bad = CASES[instruction]
    s = sample(instruction, kwargs)
    assert ifeval.follows(s, good) == ([True], [True])
    assert ifeval.follows(s, bad) == ([False], [False])


def test_loose_forgives_a_preamble_and_markdown_but_strict_does_not() -> None:
    s = sample("startend:quotation", {})
    assert ifeval.follows(s, 'Sure! Here it is:\n"All of it is quoted."') == ([False], [True])
    s = sample("change_case:english_lowercase", {})
    assert ifeval.follows(s, "**bold** but lowercase\nThanks, Bye!") == ([False], [True])


def test_scores_and_pooled_instruction_level_accuracy() -> None:
    bench = benchmarks.get("ifeval")
    first = bench.load(Params(), None)[0]  # 3 instructions: no comma, 3 highlights, 300 words
    score = bench.score(first, "No commas. *one* *two* *three*")
    assert score.extracted == {"strict": [True, True, False], "loose": [True, True, False]}
    assert score.scores["prompt_level_strict_acc"] == 0.0
    assert score.scores["inst_level_strict_acc"] == pytest.approx(2 / 3)
    pooled = bench.aggregate(
        {first.id: [score.scores], "ifeval/1001": [{"inst_level_strict_acc": 1.0}]}
    )  # type: ignore[attr-defined]
    assert pooled["inst_level_strict_acc"] == [1.0, 1.0, 0.0, 1.0]


def test_garbage_scores_zero_without_raising() -> None:
    bench = benchmarks.get("ifeval")
    for s in bench.load(Params(), None)[:40]:
        for text in ("", "   \n "):
            assert bench.score(s, text).scores["prompt_level_loose_acc"] == 0.0
        for text in GARBAGE:
            bench.score(s, text)


@dataclass(frozen=True)
class Chosen(ifeval.IFEval):
    """IFEval restricted to the given samples (registered under another name)."""

    name: str = "ifeval_chosen"
    samples: tuple[Sample, ...] = ()

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return list(self.samples)


def test_end_to_end_through_the_runner(tmp_path: Path) -> None:
    """Five no-comma prompts answered without commas, and a three-instruction prompt with ''."""
    samples = benchmarks.get("ifeval").load(Params(), None)
    no_comma = [s for s in samples if s.meta["instructions"] == ["punctuation:no_comma"]][:5]
    assert len(no_comma) == 5 and len(samples[0].meta["instructions"]) == 3
    answers = {s.prompt: "A fine answer without any commas." for s in no_comma}
    benchmarks.register(Chosen(samples=(*no_comma, samples[0])))
    with FakeEndpoint(lambda body: answers.get(prompt_key(body), "")) as ep:
        spec = TaskSpec(
            name="ifeval",
            benchmark="ifeval_chosen",
            endpoint=Endpoint(url=ep.base_url, model_id="fake"),
            params=Params(max_retries=0, parallelism=4),
        )
        assert run_task(spec, tmp_path) == EXIT_OK
    metrics = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert set(metrics) == {
        "prompt_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_strict_acc",
        "inst_level_loose_acc",
    }
    assert metrics["prompt_level_strict_acc"]["value"] == pytest.approx(5 / 6)
    # Pooled over the 5 + 3 instructions; "" follows none of the first prompt's three.
    assert metrics["inst_level_strict_acc"]["value"] == pytest.approx(5 / 8)
    assert metrics["inst_level_strict_acc"]["n"] == 8
