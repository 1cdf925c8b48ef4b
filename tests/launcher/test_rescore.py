"""inv rescore: scores and metrics recomputed from the journal, the old results kept, the
changes reported; every journal that cannot be re-scored refused in one line."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.loglikelihood import CHOICES, Choice
from proctor.harness.rescoring import NotRescorable
from proctor.harness.runner import run_task
from proctor.harness.taskfile import Params, TaskSpec
from proctor.launcher.errors import ProctorError
from proctor.launcher.results import rescore
from proctor.launcher.run.launch import prepare, write_folder
from tests.fakes.endpoint import FakeEndpoint
from tests.fakes.invocation import make_invocation

QUESTIONS = [(f"c{i}", f"Capital number {i}?", f"City{i}") for i in range(10)]


def reply(body: dict[str, Any]) -> str:
    """Right for even questions; odd ones get the city inside a sentence."""
    text = body["messages"][-1]["content"]
    i = int(text.split()[2].rstrip("?"))
    return f"City{i}" if i % 2 == 0 else f"It is City{i}."


def finished_run(tmp_path: Path, ep: FakeEndpoint) -> Path:
    """A real invocation folder (as inv run writes it) whose jsonl task ran in-process."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "input": q, "target": t}) + "\n" for i, q, t in QUESTIONS)
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "target": {"api_endpoint": {"url": ep.chat_url, "model_id": "m"}},
                "evaluation": {
                    "params": {"parallelism": 2, "max_retries": 0},
                    "tasks": [
                        {
                            "name": "jsonl",
                            "dataset_dir": "data",
                            "params": {"extra": {"id_field": "id", "scorer": "exact_match"}},
                        }
                    ],
                },
                "execution": {"output_dir": str(tmp_path / "outputs")},
            }
        )
    )
    plan, files = prepare(str(config), cwd=tmp_path)
    (tmp_path / "outputs").mkdir()
    write_folder(plan.folder, files, [job.dirname for job in plan.jobs])
    for job in plan.jobs:
        spec = job.spec.model_copy(update={"dataset_dir": str(job.dataset_dir)})
        assert run_task(spec, plan.folder / job.dirname / "artifacts") == 0
    return plan.folder


@pytest.fixture
def run(tmp_path: Path) -> Any:
    with FakeEndpoint(reply) as ep:
        folder = finished_run(tmp_path, ep)
        yield folder, ep


def test_a_scoring_option_changed_flips_samples_and_keeps_the_old_results(
    run: Any, tmp_path: Path
) -> None:
    folder, ep = run
    outputs, artifacts = tmp_path / "outputs", folder / "jsonl" / "artifacts"
    sent = ep.total
    old_results = json.loads((artifacts / "results.json").read_text())
    old_journal = (artifacts / "samples.jsonl").read_text()
    assert old_results["metrics"]["accuracy"]["value"] == 0.5

    done = rescore.rescore(outputs, None, ["jsonl"], ["params.extra.scorer=contains"])
    assert ep.total == sent  # nothing was asked again
    (task,) = done.tasks
    assert task.rescored == 10
    assert sorted(c.id for c in task.changes) == ["c1", "c3", "c5", "c7", "c9"]
    assert all((c.before, c.after) == (0.0, 1.0) for c in task.changes)
    assert task.metrics["accuracy"] == (0.5, 1.0)
    text = rescore.render(done)
    assert "accuracy" in text and "0.5000 -> 1.0000" in text and "5 to right, 0 to wrong" in text

    # The previous files sit beside the new ones, untouched.
    assert task.kept is not None and task.kept.parent == artifacts
    assert json.loads((task.kept / "results.json").read_text()) == old_results
    assert (task.kept / "samples.jsonl").read_text() == old_journal
    assert "exact_match" in (task.kept / "task.yaml").read_text()
    new = json.loads((artifacts / "results.json").read_text())
    assert new["metrics"]["accuracy"]["value"] == 1.0 and new["metrics"]["accuracy"]["n"] == 10
    assert new["rescored"]["before"] == f"{task.kept.name}/results.json"
    assert new["rescored"]["samples_changed"] == 5
    assert new["counts"] == old_results["counts"] and new["timing"] == old_results["timing"]

    # task.yaml and every journal line carry the new hash, so a resume continues (the
    # integration test resumes one in its container).
    spec = TaskSpec.load(folder / "jsonl" / "task.yaml")
    assert spec.params.extra["scorer"] == "contains"
    lines = [json.loads(x) for x in (artifacts / "samples.jsonl").read_text().splitlines()]
    assert {x["config_hash"] for x in lines} == {spec.config_hash()} == {new["config_hash"]}
    assert all(x["scores"] == {"accuracy": 1.0} for x in lines)


def test_nothing_changed_and_a_dry_run_write_nothing(run: Any, tmp_path: Path) -> None:
    folder, _ = run
    artifacts = folder / "jsonl" / "artifacts"
    before = {p.name: p.read_bytes() for p in artifacts.iterdir()}
    dry = rescore.rescore(
        tmp_path / "outputs", None, [], ["params.extra.scorer=contains"], dry_run=True
    )
    assert len(dry.tasks[0].changes) == 5 and "dry run: nothing written" in rescore.render(
        dry, dry_run=True
    )
    assert {p.name: p.read_bytes() for p in artifacts.iterdir()} == before
    same = rescore.rescore(tmp_path / "outputs", None)
    assert same.tasks[0].changes == [] and same.tasks[0].metrics["accuracy"] == (0.5, 0.5)


def test_a_scorer_fix_is_seen_as_flips(run: Any, tmp_path: Path) -> None:
    # What an older scorer wrote: pretend it had got c0 wrong.
    folder, _ = run
    journal = folder / "jsonl" / "artifacts" / "samples.jsonl"
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    for line in lines:
        if line["id"] == "c0":
            line["scores"] = {"accuracy": 0.0}
    journal.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (task,) = rescore.rescore(tmp_path / "outputs", None).tasks
    assert [(c.id, c.before, c.after) for c in task.changes] == [("c0", 0.0, 1.0)]


@pytest.mark.parametrize(
    "override, message",
    [
        ("params.temperature=1", "only params.extra.* options may change"),
        ("params.extra.system_prompt=Be brief", "prompt for c0 differs"),
        ("params.extra.scorer=bogus", "unknown scorer 'bogus'"),
    ],
)
def test_what_would_not_be_a_rescore_is_refused(
    run: Any, tmp_path: Path, override: str, message: str
) -> None:
    folder, _ = run
    before = (folder / "jsonl" / "artifacts" / "results.json").read_text()
    with pytest.raises(ProctorError, match=message) as e:
        rescore.rescore(tmp_path / "outputs", None, [], [override])
    assert "\n" not in str(e.value)
    assert (folder / "jsonl" / "artifacts" / "results.json").read_text() == before
    assert not list((folder / "jsonl" / "artifacts").glob("before-rescore-*"))


def test_changed_data_or_a_running_job_is_refused(run: Any, tmp_path: Path) -> None:
    folder, _ = run
    with open(folder / "jsonl" / "logs" / "run.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(ProctorError, match="it is running"):
            rescore.rescore(tmp_path / "outputs", None)
    data = tmp_path / "data" / "qa.jsonl"
    data.write_text(data.read_text().replace('"City3"', '"Town3"'))
    with pytest.raises(ProctorError, match="the target of c3 is .'Town3'. now"):
        rescore.rescore(tmp_path / "outputs", None)
    data.write_text(data.read_text().splitlines()[0] + "\n")
    with pytest.raises(ProctorError, match="sample 'c1' is not in the benchmark now"):
        rescore.rescore(tmp_path / "outputs", None)


def test_unfinished_tasks_are_left_alone_unless_named(run: Any, tmp_path: Path) -> None:
    folder, _ = run
    (folder / "jsonl" / "artifacts" / "results.json").unlink()
    with pytest.raises(ProctorError, match="cannot rescore jsonl: it has no results.json"):
        rescore.rescore(tmp_path / "outputs", None, ["jsonl"])
    with pytest.raises(ProctorError, match="no task 'gsm8k'"):
        rescore.rescore(tmp_path / "outputs", None, ["gsm8k"])
    done = rescore.rescore(tmp_path / "outputs", None)
    assert done.tasks == [] and done.skipped == [
        "jsonl: it has no results.json (not finished: inv resume it first)"
    ]


# -- lines of another kind: a benchmark's own rescore(sample, line) ---------------------------


def loglik_line(ident: str, lls: list[float], choices: list[str], chosen: int) -> dict[str, Any]:
    """A journal line as a log-likelihood task writes it: per-choice numbers, no response."""
    return {
        "id": ident,
        "repeat": 0,
        "config_hash": "0" * 16,
        "status": "scored",
        "prompt": "Question?",
        "response": None,
        "choices": [
            {"text": c, "loglikelihood": ll, "tokens": 2}
            for c, ll in zip(choices, lls, strict=True)
        ],
        "chosen": chosen,
        "usage": {"prompt_tokens": 10, "completion_tokens": 0},
        "latency_s": 0.1,
        "target": 0,
        "extracted": chosen,
        "scores": {"acc": float(chosen == 0)},
        "error": None,
    }


@dataclass(frozen=True)
class Ranked:
    """A log-likelihood benchmark: re-scores from the journaled choices, if they still match."""

    name: str = "ranked"
    endpoint_types: tuple[str, ...] = ("completions",)
    default_max_tokens: int = 1

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(id=i, prompt="Question?", target=0, meta={"choices": [" yes", " no"]})
            for i in ("r0", "r1")
        ]

    def score(self, sample: Sample, response: str) -> Score:
        raise AssertionError("a log-likelihood line has no response to score")

    def rescore(self, sample: Sample, line: Mapping[str, Any]) -> Score:
        texts = [c["text"] for c in line["choices"]]
        if texts != sample.meta["choices"]:
            raise NotRescorable(f"the choices of {sample.id} changed since the run")
        lls = [c["loglikelihood"] for c in line["choices"]]
        chosen = lls.index(max(lls))
        return Score(extracted=chosen, scores={"acc": float(chosen == sample.target)})


benchmarks.register(Ranked())


def test_a_benchmark_with_its_own_rescore_uses_it(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    # r1 was journaled as chosen 1, but its numbers pick choice 0: an old scoring bug.
    lines = [
        loglik_line("r0", [-1.0, -2.0], [" yes", " no"], 0),
        loglik_line("r1", [-1.0, -3.0], [" yes", " no"], 1),
    ]
    make_invocation(outputs, "aaaa0001", {"ranked": lines})
    (task,) = rescore.rescore(outputs, "aaaa0001").tasks
    assert [(c.id, c.before, c.after, c.extracted_after) for c in task.changes] == [
        ("r1", 0.0, 1.0, 0)
    ]
    assert task.metrics["acc"] == (0.5, 1.0)


def test_its_own_rescore_may_refuse_a_line(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    lines = [loglik_line("r0", [-1.0, -2.0], [" yes", " nope"], 0)]
    make_invocation(outputs, "aaaa0002", {"ranked": lines})
    with pytest.raises(ProctorError, match="line 1: the choices of r0 changed since the run"):
        rescore.rescore(outputs, "aaaa0002")


# The journal lines proctor.harness.loglikelihood writes: every choice's continuation, chars,
# log-likelihood and tokens, the chosen indices, the chosen continuation as the response.
CONTEXT = "Question: Is the sky blue?\nAnswer:"
CHOICE_TEXTS = [" yes", " no, it is not blue"]


@dataclass(frozen=True)
class TwoChoices:
    """A log-likelihood benchmark; ``extra.choices`` replaces its choices (a changed task)."""

    name: str = "two_choices"
    endpoint_types: tuple[str, ...] = ("completions",)
    default_max_tokens: int = 1

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        texts = params.extra.get("choices", CHOICE_TEXTS)
        choices = [Choice(CONTEXT, t, t.strip()) for t in texts]
        return [
            Sample(id=f"t{i}", prompt=CONTEXT, target=0, meta={CHOICES: choices}) for i in range(3)
        ]

    def score(self, sample: Sample, response: str) -> Score:
        raise AssertionError("log-likelihood samples are not scored from text")


benchmarks.register(TwoChoices())


def ll_line(ident: str, lls: list[float], journaled: tuple[int, int]) -> dict[str, Any]:
    chosen, chosen_norm = journaled
    return {
        "id": ident,
        "repeat": 0,
        "config_hash": "0" * 16,
        "status": "scored",
        "prompt": CONTEXT,
        "response": CHOICE_TEXTS[chosen],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2},
        "latency_s": 0.1,
        "target": 0,
        "extracted": chosen,
        "scores": {"acc": float(chosen == 0), "acc_norm": float(chosen_norm == 0)},
        "error": None,
        "loglikelihood": {
            "chosen": chosen,
            "chosen_norm": chosen_norm,
            "choices": [
                {"continuation": t, "chars": len(t.strip()), "loglikelihood": ll, "tokens": 2}
                for t, ll in zip(CHOICE_TEXTS, lls, strict=True)
            ],
        },
    }


def test_log_likelihood_lines_are_rescored_from_their_choices(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    lines = [
        ll_line("t0", [-1.0, -20.0], (0, 0)),  # right as journaled
        # acc's argmax is choice 1 (-1.5 > -3.0), journaled as 0 (an old scoring bug);
        # acc_norm's is choice 1 too (-1.5 / 17 > -3.0 / 3), journaled right.
        ll_line("t1", [-3.0, -1.5], (0, 1)),
        ll_line("t2", [-4.0, -30.0], (0, 0)),
    ]
    make_invocation(outputs, "aaaa0005", {"two_choices": lines})
    (task,) = rescore.rescore(outputs, "aaaa0005").tasks
    changed = {(c.id, c.metric): (c.before, c.after) for c in task.changes}
    assert changed == {("t1", "acc"): (1.0, 0.0)}
    assert task.metrics["acc"] == (1.0, 2 / 3)
    journal = outputs / "20260102-030405-aaaa0005" / "two_choices" / "artifacts" / "samples.jsonl"
    t1 = [json.loads(x) for x in journal.read_text().splitlines()][1]
    assert t1["loglikelihood"]["chosen"] == 1 and t1["extracted"] == 1
    assert t1["response"] == CHOICE_TEXTS[1]


def test_log_likelihood_lines_whose_choices_changed_are_refused(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    make_invocation(
        outputs,
        "aaaa0006",
        {"two_choices": [ll_line("t0", [-1.0, -2.0], (0, 0))]},
        task_params={"two_choices": {"extra": {"choices": [" yes", " no"]}}},
    )
    with pytest.raises(ProctorError) as e:
        rescore.rescore(outputs, "aaaa0006")
    assert str(e.value) == (
        "cannot rescore two_choices: samples.jsonl line 1: the choices of t0 (or their "
        "context) changed since the run: their log-likelihoods are of other texts"
    )


def test_lines_without_response_text_and_no_rescore_are_refused(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    line = loglik_line("gsm8k/0000", [-1.0], [" 18"], 0)
    line["target"] = "18"
    make_invocation(outputs, "aaaa0003", {"gsm8k": [line]}, task_params={"gsm8k": {}})
    with pytest.raises(ProctorError) as e:
        rescore.rescore(outputs, "aaaa0003")
    assert str(e.value) == (
        "cannot rescore gsm8k: samples.jsonl line 1: sample gsm8k/0000 has no response text "
        "in the journal, and its benchmark cannot re-score it"
    )
    make_invocation(
        outputs,
        "aaaa0007",
        {"gsm8k": [{**ll_line("gsm8k/0000", [-1.0, -2.0], (0, 0)), "target": "18"}]},
    )
    with pytest.raises(
        ProctorError, match="gsm8k/0000 was scored by log-likelihood, but is not now"
    ):
        rescore.rescore(outputs, "aaaa0007")


def test_code_benchmarks_are_not_rescored(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    make_invocation(outputs, "aaaa0004", {"humaneval": [loglik_line("x", [-1.0], ["a"], 0)]})
    with pytest.raises(ProctorError, match="running the model's code"):
        rescore.rescore(outputs, "aaaa0004", ["humaneval"])
    assert rescore.rescore(outputs, "aaaa0004").skipped == [
        "humaneval: its scores come from running the model's code, which rescore does not do"
    ]
