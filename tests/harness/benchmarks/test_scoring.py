"""Edge cases of the response-parsing helpers every benchmark relies on."""

from __future__ import annotations

import threading

import pytest

from proctor.harness import scoring
from proctor.harness.scoring import (
    contains,
    exact_match,
    extract_choice_letter,
    extract_final_number,
    math_equal,
    normalize,
    numeric_equal,
    regex_match,
)

GARBAGE = [
    "",
    "   ",
    "\x00\x01\ufffd",
    "I don't know.",
    "🙂" * 50,
    "{'answer': None}",
    "A" * 10_000,
    "\\boxed{",
    "#### ",
    "The answer is",
]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is 18", "18"),
        ("The answer is 18.", "18"),
        ("So she makes $18 every day.\nThe answer is $18.", "18"),
        ("#### 1,234", "1234"),
        ("The answer is $1,234.50.", "1234.50"),
        ("The answer is -7", "-7"),
        ("The temperature drops to -3.5 degrees.", "-3.5"),
        ("It costs .5 dollars", ".5"),
        ("Answer: 42", "42"),
        ("The final answer is \\boxed{72}.", "72"),
        ("The answer is 5 apples, not 6 apples.", "5"),  # the cue wins over the last number
        ("2 + 3 = 5, then 5 * 4 = 20 cookies", "20"),  # no cue: the last number
        ("He ran 18km in total.", "18"),
        ("pages 3-5", "5"),  # a range is not a negative number
        ("The answer is 25%.", "25"),
        ("#### 18\n\nQuestion: another one with 99", "18"),  # text after a blank line is ignored
        ("First 10. The answer is: 30\n", "30"),
        ("ANSWER IS 7", "7"),
        # A cue counts only when its number follows closely; otherwise the last number.
        (  # the real SmolLM2 reply of issue 13: it was extracted as 3
            'The last line should be "The answer is N", we need to multiply 3 by 100, '
            "which gives us 300.",
            "300",
        ),
        ("The answer is **18**.", "18"),
        ("The answer is: $18", "18"),
        ("Answer: (42)", "42"),
        ('The answer is "12".', "12"),
        ("Final answer = 9", "9"),
        ("The answer is \\(\\frac{1}{2}\\) or 0.5", "0.5"),  # \\( then a fraction: no number
        ("The answer is the number of eggs, 16 - 3 - 4 = 9.", "9"),
        ("The answer is 7.\nCheck: 3 + 4 = 7, and 2 * 5 = 10.", "7"),  # the cue beats the last
        ("#### 72\nThe answer is x, where x = 3 * 24", "72"),  # a cue without a number is skipped
        ("The answer is\n\n42", "42"),  # spaces, newlines included, are close
    ],
)
def test_extract_final_number(text: str, expected: str) -> None:
    assert extract_final_number(text) == expected


@pytest.mark.parametrize("text", GARBAGE[:6] + GARBAGE[7:], ids=range(9))
def test_extract_final_number_gives_none_without_a_number(text: str) -> None:
    assert extract_final_number(text) is None


@pytest.mark.parametrize(
    "text, letters, expected",
    [
        ("Answer: C", "ABCD", "C"),
        ("answer: C", "ABCD", "C"),
        ("The answer is (B).", "ABCD", "B"),
        ("the correct answer is option D", "ABCD", "D"),
        ("**Answer:** A", "ABCD", "A"),
        ("Final answer: **B**", "ABCD", "B"),
        ("The best choice is C because ...", "ABCD", "C"),
        ("A is tempting, but B is wrong too.\nAnswer: D", "ABCD", "D"),  # explicit beats stray
        ("Answer: A\n...on reflection...\nAnswer: C", "ABCD", "C"),  # the last explicit one
        ("C", "ABCD", "C"),
        ("(C)", "ABCD", "C"),
        ("C.", "ABCD", "C"),
        (" b ", "ABCD", None),  # lower-case letters are words, not answers
        ("C. Paris is the capital.", "ABCD", "C"),
        ("(D) none of the above", "ABCD", "D"),
        ("I think it is (B), clearly.", "ABCD", "B"),
        ("$\\boxed{B}$", "ABCD", "B"),
        ("Answer: E", "ABCDE", "E"),
        ("Answer: E", "ABCD", None),  # not one of this question's letters
        ("A dog is a mammal.", "ABCD", None),  # the article "A"
        ("The answer is a dog.", "ABCD", None),
        ("The answer is Always B", "ABCD", None),  # "Always" is not the letter A
        ("(A) or (B), hard to say", "ABCD", None),  # two candidates, no commitment
        ("I'd say the answer is B", "ABCD", "B"),
        ("The answer is: B", "ABCD", "B"),
        ("The correct answer is: **C) Paris**", "ABCD", "C"),
        ("Answer:\n\nD", "ABCD", "D"),
        ("Answer: [B]", "ABCD", "B"),
        ("Therefore, the correct option is B.", "ABCD", "B"),
    ],
)
def test_extract_choice_letter(text: str, letters: str, expected: str | None) -> None:
    assert extract_choice_letter(text, letters) == expected


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_extract_choice_letter_gives_none_on_garbage(text: str) -> None:
    assert extract_choice_letter(text) is None


def test_normalize() -> None:
    assert normalize('  "**Paris.**" ') == "paris"
    assert normalize("New   York\nCity!") == "new york city"


def test_exact_match_and_contains() -> None:
    assert exact_match("Paris.", "paris")
    assert not exact_match("It is Paris.", "Paris")
    assert not exact_match("", "")
    assert contains("I believe it is Paris.", "Paris")
    assert contains("It's New  York city", "new york")
    assert not contains("It is 14.", "4")  # whole words only
    assert not contains("concatenate", "cat")
    assert contains("costs $5 today", "$5")
    assert not contains("anything", "")


def test_regex_match() -> None:
    assert regex_match("The year was 1969.", r"\b1969\b")
    assert not regex_match("The year was 19690.", r"\b1969\b")
    assert not regex_match("anything", "(unclosed")  # a bad pattern never matches


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("18", "18.00", True),
        ("1,234", "1234", True),
        ("$5", "5", True),
        ("-0.5", "-.5", True),
        ("3", "4", False),
        ("1e3", "1000", True),
        ("nan", "nan", False),
        ("inf", "inf", False),
        ("abc", "abc", False),
        (None, "1", False),
        ("100000001", "100000000", False),  # integers are compared exactly
    ],
)
def test_numeric_equal(a: object, b: object, expected: bool) -> None:
    assert numeric_equal(a, b) is expected


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("18", "18", True),
        ("18", "18.0", True),
        ("1/2", "0.5", True),
        ("\\frac{1}{2}", "0.5", True),
        ("1234", "1,234", True),
        ("18", "19", False),
        ("18", "", False),
        ("18", "x" * (scoring.MAX_MATH_CHARS + 1), False),
        ("18", "\\frac{", False),
    ],
)
def test_math_equal(gold: str, answer: str, expected: bool) -> None:
    assert math_equal(gold, answer) is expected


def test_math_equal_works_off_the_main_thread() -> None:
    # math-verify's default timeouts use signal.alarm, which fails outside the main thread.
    results: list[bool] = []
    worker = threading.Thread(
        target=lambda: results.extend([math_equal("18", "18.0"), math_equal("1/2", "2/4")])
    )
    worker.start()
    worker.join(timeout=60)
    assert results == [True, True]
