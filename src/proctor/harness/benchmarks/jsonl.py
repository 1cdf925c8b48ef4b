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
    scoring         scorer multiple_choice: "generate" (default: the model answers a letter)
                    or "loglikelihood": each choice is scored by its log-likelihood after
                    the input (proctor.harness.loglikelihood; acc and acc_norm; a
                    completions endpoint that echoes logprobs). The input is then the
                    context as the model should continue it (e.g. "Question: ...\nAnswer:"),
                    the continuation is target_delimiter + the choice's text
    target_delimiter  scoring loglikelihood: before each choice (default " ", lm-eval's)
    scorer          exact_match (default) | contains | regex | multiple_choice | numeric |
                    judge
    judge_template  scorer judge: the judge's prompt (your rubric), with the placeholders
                    {input}, {response} and {target} (write literal braces as {{ and }});
                    it must ask for the score as [[N]] (FastChat llm_judge's format)
    judge_system_prompt  scorer judge: sent to the judge as a system message first
    judge_scale     scorer judge: "1-10" (default) or "0-1"; a reply without [[N]] inside
                    the scale is an error of that sample, never a score

With scorer judge the target field is optional (the template may use it) and the metric
is ``judge_score``, the mean of the judge's ratings on the configured scale.

Bad data fails the load with a one-line ValueError naming the file and line.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctor.harness.benchmarks import multichoice, verdicts
from proctor.harness.benchmarks.base import CHOICES, Choice, Message, Sample, Score
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

SCORINGS = ("generate", "loglikelihood")
SCORERS = ("exact_match", "contains", "regex", "multiple_choice", "numeric", "judge")
JUDGE_SCALES = {"1-10": (1.0, 10.0), "0-1": (0.0, 1.0)}
TEMPLATE_FIELDS = ("input", "response", "target")


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
    if scorer == "judge":
        return value  # only ever shown to the judge, through the template
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
    judge_template: str | None = None
    judge_system_prompt: str | None = None
    judge_scale: str = "1-10"
    scoring: str = "generate"
    target_delimiter: str = " "

    @classmethod
    def of(cls, extra: dict[str, Any]) -> _Options:
        opts = cls(
            input_field=extra.get("input_field", "input"),
            target_field=extra.get("target_field", "target"),
            id_field=extra.get("id_field"),
            choices_field=extra.get("choices_field", "choices"),
            system_prompt=extra.get("system_prompt"),
            scorer=extra.get("scorer", "exact_match"),
            judge_template=extra.get("judge_template"),
            judge_system_prompt=extra.get("judge_system_prompt"),
            judge_scale=str(extra.get("judge_scale", "1-10")),
            scoring=extra.get("scoring", "generate"),
            target_delimiter=extra.get("target_delimiter", " "),
        )
        if opts.scoring not in SCORINGS:
            raise ValueError(
                f"extra.scoring must be 'generate' or 'loglikelihood', not {opts.scoring!r}"
            )
        if opts.scoring == "loglikelihood" and opts.scorer != "multiple_choice":
            raise ValueError("extra.scoring loglikelihood needs scorer multiple_choice")
        if not isinstance(opts.target_delimiter, str):
            raise ValueError("extra.target_delimiter must be a string")
        if opts.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {opts.scorer!r}; valid: {', '.join(SCORERS)}")
        if opts.scorer == "judge":
            check_template(opts.judge_template)
            if opts.judge_scale not in JUDGE_SCALES:
                raise ValueError(
                    f"extra.judge_scale {opts.judge_scale!r} must be one of "
                    f"{', '.join(JUDGE_SCALES)}"
                )
        return opts


def check_template(template: Any) -> None:
    """A judge template must be a string whose placeholders are all known."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError(
            "scorer judge needs extra.judge_template: the judge's prompt, with {input}, "
            "{response} and {target} where those go"
        )
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise ValueError(
            f"extra.judge_template: {e} (write literal braces as {{{{ and }}}})"
        ) from None
    unknown = sorted(fields - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(
            f"extra.judge_template has unknown placeholder(s) {', '.join(unknown)}; "
            f"known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        )


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
    needed = (opts.input_field, None if opts.scorer == "judge" else opts.target_field)
    for field in (*needed, opts.id_field):
        if field is not None and field not in row:
            raise ValueError(f"missing field {field!r}")
    question = row[opts.input_field]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"field {opts.input_field!r} must be a non-empty string")
    sample_id = row[opts.id_field] if opts.id_field else number
    if isinstance(sample_id, bool) or not isinstance(sample_id, str | int) or sample_id == "":
        raise ValueError(f"field {opts.id_field!r} must be a non-empty string or an integer")
    target = _target(opts.scorer, row.get(opts.target_field), row, opts.choices_field)
    meta: dict[str, Any] = {"scorer": opts.scorer}
    if opts.scorer == "judge":
        meta.update(
            question=question,
            judge_template=opts.judge_template,
            judge_system_prompt=opts.judge_system_prompt,
            judge_scale=opts.judge_scale,
        )
    if opts.scoring == "loglikelihood":
        return _ranked(str(sample_id), question, target, row[opts.choices_field], opts)
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


def _ranked(sample_id: str, question: str, letter: str, texts: list[str], opts: _Options) -> Sample:
    """A multiple-choice line scored by log-likelihood: one Choice per option."""
    context = f"{opts.system_prompt}\n\n{question}" if opts.system_prompt else question
    choices = [Choice(context, opts.target_delimiter + t, t) for t in texts]
    return Sample(
        id=sample_id,
        prompt=context,
        target=LETTERS.index(letter),
        meta={"scorer": opts.scorer, CHOICES: choices},
    )


@dataclass(frozen=True)
class JSONL:
    name: str = "jsonl"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 256

    default_judge_max_tokens: int = 1024  # FastChat llm_judge's judge max_tokens

    def needs_judge(self, params: Params) -> bool:
        return params.extra.get("scorer") == "judge"

    def check_params(self, params: Params) -> None:
        _Options.of(params.extra)

    def endpoint_types_for(self, params: Params) -> tuple[tuple[str, ...], str]:
        if params.extra.get("scoring") == "loglikelihood":
            return ("completions",), "extra.scoring: loglikelihood"
        return self.endpoint_types, ""

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

    def judge_requests(self, sample: Sample, answers: Sequence[str]) -> list[list[Message]]:
        meta = sample.meta
        target = "" if sample.target is None else str(sample.target)
        text = str(meta["judge_template"]).format(
            input=meta["question"], response=answers[-1], target=target
        )
        messages: list[Message] = []
        if meta.get("judge_system_prompt"):
            messages.append({"role": "system", "content": str(meta["judge_system_prompt"])})
        messages.append({"role": "user", "content": text})
        return [messages]

    def verdict(self, sample: Sample, answers: Sequence[str], replies: Sequence[str]) -> Score:
        low, high = JUDGE_SCALES[sample.meta["judge_scale"]]
        value = verdicts.rating(replies[0], low, high)
        return Score(extracted=[value], scores={"judge_score": value})


BENCHMARK = JSONL()
