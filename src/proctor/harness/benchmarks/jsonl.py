"""jsonl: the user's own questions, one JSON object per line, from ``dataset_dir``.

Data: a ``.jsonl`` file in the task's dataset_dir (mounted read-only at /datasets in the
container). Example: ``configs/data/sample_qa.jsonl``. Provenance and license are the user's.

Options, all in ``params.extra``:
    file            path relative to dataset_dir (default: the only *.jsonl file there)
    input_field     the question (default "input")
    target_field    the answer (default "target"); for exact_match, contains and numeric it
                    may be a list of accepted answers
    id_field        a unique id per line (default: the line number)
    choices_field   the list of options, for scorer multiple_choice (default "choices");
                    the target is then a letter, a 0-based index or the text of one option
    system_prompt   sent as a system message before each question
    scorer          exact_match (default) | contains | regex | multiple_choice | numeric

Bad data fails the load with a one-line ValueError naming the file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctor.harness.benchmarks import multichoice
from proctor.harness.benchmarks.base import Message, Sample, Score
from proctor.harness.scoring import (
    LETTERS,
    contains,
    exact_match,
    extract_final_number,
    numeric_equal,
    regex_match,
    to_decimal,
)
from proctor.harness.taskfile import Params
from proctor.harness.untrusted import loads

SCORERS = ("exact_match", "contains", "regex", "multiple_choice", "numeric")


def _data_file(dataset_dir: str | None, name: Any) -> Path:
    if dataset_dir is None:
        raise ValueError("the task needs a dataset_dir holding the .jsonl file")
    folder = Path(dataset_dir)
    if not folder.is_dir():
        raise ValueError(f"dataset_dir {folder} is not a directory")
    if name is None:
        found = sorted(folder.glob("*.jsonl"))
        if len(found) != 1:
            listed = ", ".join(p.name for p in found) or "none"
            raise ValueError(f"set extra.file; {folder} has {len(found)} .jsonl files ({listed})")
        return found[0]
    path = folder / str(name)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"extra.file {name!r} must lie inside dataset_dir {folder}")
    if not path.is_file():
        raise ValueError(f"{path} not found")
    return path


def _target(scorer: str, value: Any, row: dict[str, Any], choices_field: str) -> Any:
    """The target in the form its scorer wants; ValueError (without location) if unusable."""
    if scorer == "multiple_choice":
        choices = row.get(choices_field)
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ValueError(f"field {choices_field!r} must be a list of strings")
        if not 2 <= len(choices) <= multichoice.MAX_CHOICES:
            raise ValueError(
                f"field {choices_field!r} needs 2 to {multichoice.MAX_CHOICES} choices"
            )
        letters = LETTERS[: len(choices)]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
            return letters[value]
        if isinstance(value, str) and value.strip().upper() in letters and len(value.strip()) == 1:
            return value.strip().upper()
        if isinstance(value, str) and value in choices:
            return letters[choices.index(value)]
        raise ValueError(
            f"target {value!r} is not a letter, index or text of the {len(choices)} choices"
        )
    if scorer == "regex":
        if not isinstance(value, str):
            raise ValueError("a regex target must be a string")
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"invalid regex {value!r}: {e}") from None
        return value
    answers = value if isinstance(value, list) else [value]
    ok = [isinstance(a, str | int | float) and not isinstance(a, bool) and a != "" for a in answers]
    if not answers or not all(ok):
        raise ValueError("target must be a non-empty string or number, or a list of them")
    if scorer == "numeric" and any(to_decimal(a) is None for a in answers):
        raise ValueError(f"target {value!r} is not a number")
    return [str(a) for a in answers]


@dataclass(frozen=True)
class _Options:
    input_field: str
    target_field: str
    id_field: str | None
    choices_field: str
    system_prompt: str | None
    scorer: str

    @classmethod
    def of(cls, extra: dict[str, Any]) -> _Options:
        opts = cls(
            input_field=extra.get("input_field", "input"),
            target_field=extra.get("target_field", "target"),
            id_field=extra.get("id_field"),
            choices_field=extra.get("choices_field", "choices"),
            system_prompt=extra.get("system_prompt"),
            scorer=extra.get("scorer", "exact_match"),
        )
        if opts.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {opts.scorer!r}; valid: {', '.join(SCORERS)}")
        return opts


def _sample(line: str, number: int, opts: _Options) -> Sample:
    """One line as a Sample; ValueError (without location) when it is unusable."""
    try:
        row = loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON ({e.msg}, column {e.colno})") from None
    except ValueError as e:  # nested too deeply, NaN/Infinity
        raise ValueError(f"malformed JSON ({e})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    for field in (opts.input_field, opts.target_field, opts.id_field):
        if field is not None and field not in row:
            raise ValueError(f"missing field {field!r}")
    question = row[opts.input_field]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"field {opts.input_field!r} must be a non-empty string")
    sample_id = row[opts.id_field] if opts.id_field else number
    if isinstance(sample_id, bool) or not isinstance(sample_id, str | int) or sample_id == "":
        raise ValueError(f"field {opts.id_field!r} must be a non-empty string or an integer")
    target = _target(opts.scorer, row[opts.target_field], row, opts.choices_field)
    meta: dict[str, Any] = {"scorer": opts.scorer}
    text = question
    if opts.scorer == "multiple_choice":
        choices = row[opts.choices_field]
        text = multichoice.prompt(question, choices)
        meta["letters"] = LETTERS[: len(choices)]
    prompt: list[Message] | str = text
    if opts.system_prompt:
        prompt = [
            {"role": "system", "content": opts.system_prompt},
            {"role": "user", "content": text},
        ]
    return Sample(id=str(sample_id), prompt=prompt, target=target, meta=meta)


@dataclass(frozen=True)
class JSONL:
    name: str = "jsonl"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 256

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        opts = _Options.of(params.extra)
        path = _data_file(dataset_dir, params.extra.get("file"))
        samples: list[Sample] = []
        first_seen: dict[str, int] = {}
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    sample = _sample(line, number, opts)
                except ValueError as e:
                    raise ValueError(f"{path}:{number}: {e}") from None
                if sample.id in first_seen:
                    raise ValueError(
                        f"{path}:{number}: duplicate id {sample.id!r} (first on line {first_seen[sample.id]})"
                    )
                first_seen[sample.id] = number
                samples.append(sample)
        if not samples:
            raise ValueError(f"{path}: no samples (the file is empty)")
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        scorer, target = sample.meta["scorer"], sample.target
        if scorer == "multiple_choice":
            return multichoice.score(sample, response)
        extracted: Any
        if scorer == "regex":
            ok = regex_match(response, target)
            extracted = response[:200]
        elif scorer == "numeric":
            extracted = extract_final_number(response)
            ok = extracted is not None and any(numeric_equal(extracted, t) for t in target)
        else:
            match = exact_match if scorer == "exact_match" else contains
            ok = any(match(response, t) for t in target)
            extracted = response.strip()[:200]
        return Score(extracted=extracted, scores={"accuracy": float(ok)})


BENCHMARK = JSONL()
