"""Few-shot prompts: seeded, fixed per sample, never the sample itself, the two chat shapes,
the journal records the examples, and the config hash changes with them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks, fewshot
from proctor.harness.benchmarks import gsm8k
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.fewshot import Shot
from proctor.harness.runner import EXIT_BAD_INPUT, run_task, select_subset
from proctor.harness.taskfile import Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint


@dataclass(frozen=True)
class Pooled:
    """A benchmark whose few-shot pool is its own test set (the case rm_eval_doc is for)."""

    name: str = "pooled"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 8
    fewshot_sampler: fewshot.Sampler = "random"
    fewshot_max: int = 10

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [Sample(id=f"p{i}", prompt=f"Q{i}?", target=str(i)) for i in range(12)]

    def score(self, sample: Sample, response: str) -> Score:
        return Score(extracted=response, scores={"exact_match": float(response == sample.target)})

    def fewshot_pool(self, sample: Sample) -> list[Shot]:
        return [Shot(id=f"p{i}", question=f"Q{i}?", answer=f"A{i}") for i in range(12)]


benchmarks.register(Pooled())
POOL = Pooled().fewshot_pool(Sample(id="x", prompt="", target=None))


def test_random_draws_are_seeded_fixed_per_sample_and_never_the_sample() -> None:
    for i in range(12):
        sample_id = f"p{i}"
        for seed in range(30):
            shots = fewshot.choose(POOL, 5, sample_id, seed, "random")
            assert len(shots) == len({s.id for s in shots}) == 5
            assert sample_id not in {s.id for s in shots}
            assert shots == fewshot.choose(POOL, 5, sample_id, seed, "random")
    # The seed and the sample decide the draw; the pool is used all over.
    draws = {
        tuple(s.id for s in fewshot.choose(POOL, 3, "p0", seed, "random")) for seed in range(20)
    }
    assert len(draws) > 10
    assert fewshot.choose(POOL, 11, "p0", 1, "random") != fewshot.choose(
        POOL, 11, "p1", 1, "random"
    )
    # Asking for every other example: all 11, the sample excluded.
    assert {s.id for s in fewshot.choose(POOL, 11, "p4", 7, "random")} == {
        f"p{i}" for i in range(12) if i != 4
    }
    with pytest.raises(ValueError, match="only 11 examples"):
        fewshot.choose(POOL, 12, "p4", 7, "random")


def test_first_n_is_the_split_order_without_the_sample() -> None:
    assert [s.id for s in fewshot.choose(POOL, 3, "p9", 1, "first_n")] == ["p0", "p1", "p2"]
    assert [s.id for s in fewshot.choose(POOL, 3, "p1", 1, "first_n")] == ["p0", "p2", "p3"]


def test_a_sample_keeps_its_examples_in_any_subset() -> None:
    bench = Pooled()
    everything = {s.id: s for s in fewshot.apply(bench, bench.load(Params(), None), 3, 5, True)}
    subset = select_subset(bench.load(Params(), None), 4, seed=99)
    for sample in fewshot.apply(bench, subset, 3, 5, True):
        assert sample.prompt == everything[sample.id].prompt
        assert sample.meta["fewshot"] == everything[sample.id].meta["fewshot"]


SHOTS = [Shot("a", "Q1?", "A1"), Shot("b", "Q2?", "A2")]


def test_multiturn_shape_alternates_turns() -> None:
    assert fewshot.build("Q?", SHOTS, multiturn=True) == [
        {"role": "user", "content": "Q1?"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2?"},
        {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "Q?"},
    ]


def test_single_message_shape_is_one_text() -> None:
    assert fewshot.build("Q?", SHOTS, multiturn=False) == "Q1?\nA1\n\nQ2?\nA2\n\nQ?"
    system = {"role": "system", "content": "Be brief."}
    prompt = [system, {"role": "user", "content": "Q?"}]
    assert fewshot.build(prompt, SHOTS, multiturn=False) == [
        system,
        {"role": "user", "content": "Q1?\nA1\n\nQ2?\nA2\n\nQ?"},
    ]
    assert fewshot.build(prompt, SHOTS, multiturn=True)[0] == system


def spec(url: str, benchmark: str = "pooled", type_: str = "chat", **params: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "t",
            "benchmark": benchmark,
            "endpoint": {"url": url, "model_id": "m", "type": type_},
            "params": {"parallelism": 2, "max_retries": 0, **params},
        }
    )


def lines(results: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (results / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("multiturn", [True, False])
def test_what_the_endpoint_receives_and_the_journal_records(
    tmp_path: Path, multiturn: bool
) -> None:
    with FakeEndpoint(lambda body: "0", record=True) as ep:
        task = spec(ep.base_url, num_fewshot=2, fewshot_as_multiturn=multiturn, system_prompt="S")
        assert run_task(task, tmp_path) == 0
    journal = {line["id"]: line for line in lines(tmp_path)}
    assert len(ep.requests) == 12
    for _, body, _ in ep.requests:
        messages = body["messages"]
        question = messages[-1]["content"]
        sample_id = "p" + question.rsplit("Q", 1)[1].rstrip("?")
        line = journal[sample_id]
        shots = line["fewshot"]
        assert len(shots) == 2 and sample_id not in shots
        assert line["prompt"] == messages  # the journal holds exactly what was sent
        assert messages[0] == {"role": "system", "content": "S"}
        if multiturn:
            assert [m["role"] for m in messages] == ["system", *["user", "assistant"] * 2, "user"]
            assert [m["content"] for m in messages[2:5:2]] == [f"A{s[1:]}" for s in shots]
        else:
            assert [m["role"] for m in messages] == ["system", "user"]
            a, b = shots
            assert question == f"Q{a[1:]}?\nA{a[1:]}\n\nQ{b[1:]}?\nA{b[1:]}\n\nQ{sample_id[1:]}?"


def test_a_completions_endpoint_gets_one_text(tmp_path: Path) -> None:
    with FakeEndpoint(lambda body: "0", record=True) as ep:
        assert run_task(spec(ep.base_url, type_="completions", num_fewshot=1), tmp_path) == 0
    for _, body, _ in ep.requests:
        assert isinstance(body["prompt"], str) and body["prompt"].count("\n\n") == 1


def test_few_shot_parameters_change_the_config_hash() -> None:
    url = "http://127.0.0.1:1/v1"
    zero = spec(url).config_hash()
    assert spec(url, fewshot_as_multiturn=False).config_hash() == zero  # no examples: no shape
    assert len({zero, *(spec(url, num_fewshot=n).config_hash() for n in (1, 5))}) == 3
    assert (
        spec(url, num_fewshot=5, fewshot_as_multiturn=False).config_hash()
        != spec(url, num_fewshot=5).config_hash()
    )


def test_too_many_shots_or_a_benchmark_without_them_is_bad_input(
    tmp_path: Path, capsys: Any
) -> None:
    with FakeEndpoint(lambda body: "0") as ep:
        assert run_task(spec(ep.base_url, num_fewshot=12), tmp_path / "a") == EXIT_BAD_INPUT
        assert "num_fewshot is 12, but only 11" in capsys.readouterr().err
        assert run_task(spec(ep.base_url, "math500", num_fewshot=1), tmp_path / "b") == 2
        assert "math500 has no few-shot examples" in capsys.readouterr().err
        assert ep.total == 0


@pytest.mark.parametrize("name, most", [("mmlu", 5), ("arc_easy", 100), ("arc_challenge", 100)])
def test_shipped_pools_never_hold_the_sample(name: str, most: int) -> None:
    bench = benchmarks.get(name)
    params = Params(extra={"subjects": ["anatomy", "virology"]}) if name == "mmlu" else Params()
    samples = bench.load(params, None)
    test_ids = {s.id for s in samples}
    pools = {tuple(s.id for s in bench.fewshot_pool(x)) for x in samples}  # type: ignore[attr-defined]
    for pool in pools:
        assert len(pool) >= min(most, 5) and not set(pool) & test_ids
    shots = fewshot.apply(bench, samples[:50], 5, 1234, True)
    for sample in shots:
        assert len(sample.meta["fewshot"]) == 5 and sample.id not in sample.meta["fewshot"]
        assert sample.meta["fewshot"][0].startswith(f"{name}/")


def test_gsm8k_exemplars_are_the_eight_cot_ones_and_no_test_problem() -> None:
    shots = gsm8k.cot_exemplars()
    assert len(shots) == 8
    assert shots[0].question.endswith("How many trees did the grove workers plant today?")
    assert shots[0].answer.endswith("So the answer is 6.")
    questions = {s.prompt for s in gsm8k.BENCHMARK.load(Params(), None)}
    assert not questions & {s.question for s in shots}
    (sample,) = fewshot.apply(gsm8k.BENCHMARK, gsm8k.BENCHMARK.load(Params(), None)[:1], 8, 1, True)
    assert sample.meta["fewshot"] == [f"gsm8k/cot/{i}" for i in range(8)]
