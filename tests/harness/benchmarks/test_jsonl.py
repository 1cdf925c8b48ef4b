"""The jsonl benchmark: options, every scorer, and one clear line for each kind of bad data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import Sample
from proctor.harness.taskfile import Params

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_QA = ROOT / "configs" / "data" / "sample_qa.jsonl"
BENCH = benchmarks.get("jsonl")


def write(folder: Path, rows: list[Any], name: str = "data.jsonl") -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def load(folder: Path, **extra: Any) -> list[Sample]:
    return BENCH.load(Params(extra=extra), str(folder))


def accuracy(sample: Sample, response: str) -> float:
    return BENCH.score(sample, response).scores["accuracy"]


def test_sample_qa_ships_twenty_unique_ids() -> None:
    samples = load(SAMPLE_QA.parent, file=SAMPLE_QA.name, id_field="id", scorer="contains")
    assert len(samples) == 20
    assert len({s.id for s in samples}) == 20
    assert all(isinstance(s.prompt, str) and s.prompt.strip() for s in samples)


def test_defaults_line_numbers_and_the_only_file(tmp_path: Path) -> None:
    write(tmp_path, [{"input": "Q1", "target": "a"}, "", {"input": "Q2", "target": "b"}])
    samples = load(tmp_path)
    assert [s.id for s in samples] == ["1", "3"]  # a blank line is skipped, numbering is kept
    assert samples[0].prompt == "Q1" and samples[0].meta["scorer"] == "exact_match"


def test_custom_fields_and_system_prompt(tmp_path: Path) -> None:
    write(tmp_path, [{"q": "What is 2+2?", "a": 4, "key": "k1"}])
    (sample,) = load(
        tmp_path, input_field="q", target_field="a", id_field="key", system_prompt="Be brief."
    )
    assert sample.id == "k1"
    assert sample.prompt == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert accuracy(sample, "4") == 1.0


@pytest.mark.parametrize(
    "scorer, target, right, wrong",
    [
        ("exact_match", "Paris", "paris.", "It is Paris."),
        ("exact_match", ["NYC", "New York"], "New York", "York"),
        ("contains", "Paris", "I think it is **Paris**.", "Parisian food"),
        ("contains", 4, "2 + 2 = 4", "2 + 12 = 14"),
        ("regex", r"\b19(69|70)\b", "In 1969.", "In 1968."),
        ("numeric", "1,234", "The answer is $1234.00", "The answer is 1235"),
        ("numeric", -2.5, "so x = -2.5", "so x = 2.5"),
    ],
)
def test_scorers(tmp_path: Path, scorer: str, target: Any, right: str, wrong: str) -> None:
    write(tmp_path, [{"input": "Q", "target": target}])
    (sample,) = load(tmp_path, scorer=scorer)
    assert accuracy(sample, right) == 1.0
    assert accuracy(sample, wrong) == 0.0
    assert accuracy(sample, "") == 0.0


@pytest.mark.parametrize("target", ["B", "b", 1, "Lyon"])
def test_multiple_choice_targets(tmp_path: Path, target: Any) -> None:
    write(
        tmp_path, [{"input": "Which city?", "choices": ["Paris", "Lyon", "Nice"], "target": target}]
    )
    (sample,) = load(tmp_path, scorer="multiple_choice")
    assert sample.target == "B" and sample.meta["letters"] == "ABC"
    assert "A) Paris\nB) Lyon\nC) Nice" in sample.prompt
    assert accuracy(sample, "Answer: B") == 1.0
    assert accuracy(sample, "Answer: A") == 0.0
    assert accuracy(sample, "Answer: D") == 0.0


# (rows, options, what the one-line message must say besides the file name)
BAD = {
    "malformed json": (
        [{"input": "Q", "target": "a"}, '{"input": "Q2", '],
        {},
        ":2: malformed JSON",
    ),
    "not an object": (['["Q", "a"]'], {}, ":1: expected a JSON object"),
    "missing input": ([{"question": "Q", "target": "a"}], {}, ":1: missing field 'input'"),
    "missing target": ([{"input": "Q"}], {}, ":1: missing field 'target'"),
    "missing id": ([{"input": "Q", "target": "a"}], {"id_field": "id"}, ":1: missing field 'id'"),
    "duplicate id": (
        [
            {"id": 7, "input": "Q", "target": "a"},
            {"id": "x", "input": "R", "target": "b"},
            {"id": 7, "input": "S", "target": "c"},
        ],
        {"id_field": "id"},
        ":3: duplicate id '7' (first on line 1)",
    ),
    "empty input": ([{"input": " ", "target": "a"}], {}, ":1: field 'input' must be a non-empty"),
    "null target": ([{"input": "Q", "target": None}], {}, ":1: target must be"),
    "boolean target": ([{"input": "Q", "target": True}], {}, ":1: target must be"),
    "not a number": (
        [{"input": "Q", "target": "ten"}],
        {"scorer": "numeric"},
        ":1: target 'ten' is not a number",
    ),
    "bad regex": ([{"input": "Q", "target": "(a"}], {"scorer": "regex"}, ":1: invalid regex"),
    "no choices": (
        [{"input": "Q", "target": "A"}],
        {"scorer": "multiple_choice"},
        ":1: field 'choices' must be a list",
    ),
    "target not a choice": (
        [{"input": "Q", "choices": ["x", "y"], "target": "C"}],
        {"scorer": "multiple_choice"},
        ":1: target 'C' is not a letter",
    ),
    "empty file": ([], {}, "no samples"),
    "only blank lines": (["", "   "], {}, "no samples"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_one_line_naming_file_and_line(tmp_path: Path, case: str) -> None:
    rows, options, expected = BAD[case]
    path = write(tmp_path, rows)
    with pytest.raises(ValueError) as e:
        load(tmp_path, **options)
    message = str(e.value)
    assert "\n" not in message
    assert str(path) in message and expected in message


def test_bad_options_and_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a dataset_dir"):
        BENCH.load(Params(), None)
    with pytest.raises(ValueError, match="is not a directory"):
        load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"has 0 \.jsonl files \(none\)"):
        load(tmp_path)
    write(tmp_path, [{"input": "Q", "target": "a"}], "a.jsonl")
    write(tmp_path, [{"input": "Q", "target": "a"}], "b.jsonl")
    with pytest.raises(ValueError, match=r"has 2 \.jsonl files \(a\.jsonl, b\.jsonl\)"):
        load(tmp_path)
    with pytest.raises(ValueError, match=r"c\.jsonl not found"):
        load(tmp_path, file="c.jsonl")
    with pytest.raises(ValueError, match="must lie inside dataset_dir"):
        load(tmp_path, file="../outside.jsonl")
    with pytest.raises(ValueError, match="unknown scorer 'fuzzy'; valid: exact_match, contains"):
        load(tmp_path, file="a.jsonl", scorer="fuzzy")
    assert len(load(tmp_path, file="b.jsonl")) == 1


def test_multiple_choice_by_loglikelihood(tmp_path: Path) -> None:
    from proctor.harness.loglikelihood import CHOICES

    write(
        tmp_path,
        [
            {"input": "Question: 2+2?\nAnswer:", "choices": ["3", "4"], "target": "B"},
            {"input": "Sky colour:", "choices": ["blue", "red"], "target": 0},
        ],
    )
    samples = load(tmp_path, scorer="multiple_choice", scoring="loglikelihood")
    assert [s.target for s in samples] == [1, 0]
    first = samples[0].meta[CHOICES]
    assert [(c.context, c.continuation, c.text) for c in first] == [
        ("Question: 2+2?\nAnswer:", " 3", "3"),
        ("Question: 2+2?\nAnswer:", " 4", "4"),
    ]
    glued = load(tmp_path, scorer="multiple_choice", scoring="loglikelihood", target_delimiter="")
    assert glued[1].meta[CHOICES][0].continuation == "blue"
    with pytest.raises(ValueError, match="needs scorer multiple_choice"):
        load(tmp_path, scoring="loglikelihood")
    with pytest.raises(ValueError, match="extra.scoring"):
        load(tmp_path, scorer="multiple_choice", scoring="rank")


def test_jsonl_loglikelihood_end_to_end(tmp_path: Path) -> None:
    from proctor.harness.runner import run_task
    from proctor.harness.taskfile import TaskSpec
    from tests.fakes.endpoint import FakeEndpoint

    data = tmp_path / "data"
    data.mkdir()
    write(data, [{"input": "Pick:", "choices": ["ab", "abcdef"], "target": 1, "id": "x"}])
    # The fake's default: -0.5 per character after "Pick:" (a prefix of 5 characters adds
    # nothing): -1.0 vs -3.0 for acc; per character -0.5 each, a tie that index 0 takes.
    spec = TaskSpec.model_validate(
        {
            "name": "mine",
            "benchmark": "jsonl",
            "endpoint": {"url": "", "model_id": "m", "type": "completions"},
            "dataset_dir": str(data),
            "params": {
                "max_retries": 0,
                "extra": {
                    "scorer": "multiple_choice",
                    "scoring": "loglikelihood",
                    "id_field": "id",
                },
            },
        }
    )
    with FakeEndpoint() as ep:
        spec = spec.model_copy(
            update={"endpoint": spec.endpoint.model_copy(update={"url": ep.base_url})}
        )
        assert run_task(spec, tmp_path / "out") == 0
    (line,) = (json.loads(x) for x in (tmp_path / "out" / "samples.jsonl").read_text().splitlines())
    record = line["loglikelihood"]
    assert [c["continuation"] for c in record["choices"]] == [" ab", " abcdef"]
    assert [c["chars"] for c in record["choices"]] == [2, 6]
    assert [c["loglikelihood"] for c in record["choices"]] == [-1.0, -3.0]
    assert (record["chosen"], record["chosen_norm"]) == (0, 0)
    assert line["scores"] == {"acc": 0.0, "acc_norm": 0.0}
