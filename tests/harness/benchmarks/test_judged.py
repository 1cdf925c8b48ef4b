"""MT-Bench, Arena-Hard and AlpacaEval against deterministic test judges: exact scores.

The target answers "@ans:<n>" (n from the question, tests.fakes.judge.expected_answer);
each judge grades by a rule, so every metric below is known in advance, including what
swapping the two answers' positions does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import benchmarks
from proctor.harness.benchmarks import verdicts
from proctor.harness.benchmarks.alpaca_eval import preference
from proctor.harness.benchmarks.base import UnparseableVerdict
from proctor.harness.runner import run_task
from proctor.harness.taskfile import Params, TaskSpec
from tests.fakes import judge as fj
from tests.fakes.endpoint import FakeEndpoint


def spec(name: str, target: str, judge: str, **params: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": name,
            "benchmark": name,
            "endpoint": {"url": target, "model_id": "target"},
            "params": {"parallelism": 8, "max_retries": 0, "max_error_rate": 1.0, **params},
            "judge": {"url": judge, "model_id": "judge", "params": {"parallelism": 8}},
        }
    )


def run(name: str, rule: Any, tmp_path: Path, **params: Any) -> tuple[dict[str, Any], Any, Any]:
    with (
        FakeEndpoint(fj.answer) as target,
        FakeEndpoint(rule, key=fj.judge_key, record=True) as judge,
    ):
        code = run_task(spec(name, target.base_url, judge.base_url, **params), tmp_path)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    return results, target, judge


def journal(results: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (results / "samples.jsonl").read_text().splitlines()]


# -- verdict parsers ---------------------------------------------------------------------


def test_rating_follows_fastchat_patterns() -> None:
    assert verdicts.rating("Explanation... Rating: [[7]]", 1, 10) == 7
    assert verdicts.rating("[[8.5]] and later [[2]]", 1, 10) == 8.5  # the first match
    assert verdicts.rating("Rating: [6]", 1, 10) == 6  # FastChat's backup pattern
    for bad in ("Rating: 7", "no rating", "[[0]]", "[[11]]", ""):
        with pytest.raises(UnparseableVerdict):
            verdicts.rating(bad, 1, 10)


def test_arena_labels_take_the_last_match() -> None:
    assert verdicts.arena_label("first [[A>B]] then final [[b>>a]]") == "B>>A"
    assert verdicts.arena_label("verdict: [A=B]") == "A=B"
    for bad in ("A is better", "[[C]]", "[[A>>>B]]"):
        with pytest.raises(UnparseableVerdict):
            verdicts.arena_label(bad)


def test_alpaca_preference_is_strict() -> None:
    assert preference(" m\n") == "m" and preference("`M`.") == "M"
    for bad in ("I'm not sure", "Model m", "tie", ""):
        with pytest.raises(UnparseableVerdict):
            preference(bad)


# -- MT-Bench ----------------------------------------------------------------------------


def test_mtbench_data_is_fastchats() -> None:
    samples = benchmarks.get("mtbench").load(Params(), None)
    assert len(samples) == 80 and len({s.id for s in samples}) == 80
    assert all(len(s.followups) == 1 for s in samples)
    with_ref = {s.meta["category"] for s in samples if s.target is not None}
    assert with_ref == {"math", "reasoning", "coding"}
    assert sum(s.target is not None for s in samples) == 30


def test_mtbench_scores_each_turn_exactly(tmp_path: Path) -> None:
    results, target, judge = run("mtbench", fj.rate, tmp_path)
    samples = benchmarks.get("mtbench").load(Params(), None)
    assert results["counts"] == {"total": 80, "scored": 80, "errors": 0}
    assert target.total == 160 and judge.total == 160  # two turns, two judgements each
    turn1 = [fj.expected_answer(s.meta["turns"][0]) for s in samples]
    turn2 = [fj.expected_answer(s.meta["turns"][1]) for s in samples]
    m = results["metrics"]
    assert m["turn_1"]["value"] == pytest.approx(sum(turn1) / 80)
    assert m["turn_2"]["value"] == pytest.approx(sum(turn2) / 80)
    assert m["score"]["value"] == pytest.approx((sum(turn1) + sum(turn2)) / 160)
    math = [
        (a + b) / 2
        for s, a, b in zip(samples, turn1, turn2, strict=True)
        if s.meta["category"] == "math"
    ]
    assert m["score_math"]["value"] == pytest.approx(sum(math) / 10)
    assert m["score_math"]["n"] == 10 and m["score"]["ci_low"] < m["score"]["value"]
    # FastChat's prompts: single-v1 for turn 1, the math variants with GPT-4's reference.
    bodies = [b for _, b, _ in judge.requests]
    writing = [
        b for b in bodies if "Compose an engaging travel blog post" in b["messages"][1]["content"]
    ]
    first, second = sorted(writing, key=lambda b: len(b["messages"][0]["content"]))
    assert first["messages"][0]["content"] == "You are a helpful assistant."
    assert "[The Start of Assistant's Answer]" in first["messages"][1]["content"]
    assert (
        "focus on the assistant's answer to the second user question"
        in second["messages"][0]["content"]
    )
    assert "### Assistant A:" in second["messages"][1]["content"]
    math_req = [
        b for b in bodies if "[The Start of Reference Answer]" in b["messages"][1]["content"]
    ]
    assert len(math_req) == 30
    line = next(x for x in journal(tmp_path) if x["id"] == "mtbench/81")
    assert line["judgement"]["replies"][0].endswith(f"[[{turn1[0]}]]")
    assert line["extracted"] == [turn1[0], turn2[0]]


def test_mtbench_garbled_verdicts_are_errors_not_zeros(tmp_path: Path) -> None:
    def second_turn_garbled(body: dict[str, Any]) -> str:
        is_second = "### Assistant A:" in body["messages"][1]["content"]
        return fj.garbage(body) if is_second else fj.rate(body)

    results, _, _ = run("mtbench", second_turn_garbled, tmp_path, limit_samples=8)
    assert results["counts"] == {"total": 8, "scored": 0, "errors": 8}
    assert results["metrics"] == {}
    assert all("unparseable verdict" in x["error"] for x in journal(tmp_path))


# -- Arena-Hard --------------------------------------------------------------------------


def test_arena_hard_data_pairs_each_category_with_its_baseline() -> None:
    samples = benchmarks.get("arena_hard").load(Params(), None)
    assert len(samples) == 750
    baselines = {(s.meta["category"], s.target) for s in samples}
    assert baselines == {
        ("hard_prompt", "o3-mini-2025-01-31"),
        ("creative_writing", "gemini-2.0-flash-001"),
    }
    assert all(s.meta["baseline_answer"].strip() for s in samples)


def test_arena_hard_a_better_model_wins_every_game_in_both_orders(tmp_path: Path) -> None:
    results, _, judge = run("arena_hard", fj.prefer_marked, tmp_path, limit_samples=20)
    m = results["metrics"]
    assert results["counts"] == {"total": 20, "scored": 20, "errors": 0}
    assert judge.total == 40
    assert m["win_rate"]["value"] == 1.0 and m["win_rate"]["n"] == 20 * 2 * 3  # >> weighs 3
    assert m["preference_model_as_a"]["value"] == 2 and m["preference_model_as_b"]["value"] == 2
    line = journal(tmp_path)[0]
    assert line["extracted"] == ["B>>A", "A>>B"]  # baseline first, then the model first
    # Game 1 shows the baseline as A, game 2 the model as A.
    first, second = (b["messages"][1]["content"] for _, b, _ in judge.requests[:2])
    a_first = first.split("<|The Start of Assistant A's Answer|>")[1].split("<|The End")[0]
    a_second = second.split("<|The Start of Assistant A's Answer|>")[1].split("<|The End")[0]
    assert sorted(["@ans:" in a_first, "@ans:" in a_second]) == [False, True]


def test_arena_hard_position_bias_cancels_to_exactly_half(tmp_path: Path) -> None:
    results, _, _ = run("arena_hard", fj.always_a, tmp_path, limit_samples=20)
    m = results["metrics"]
    assert m["win_rate"]["value"] == 0.5 and m["win_rate"]["n"] == 40
    assert m["preference_model_as_a"]["value"] == 1 and m["preference_model_as_b"]["value"] == -1
    categories = {k for k in m if k.startswith("win_rate_")}
    assert categories <= {"win_rate_hard_prompt", "win_rate_creative_writing"} and categories
    assert all(m[k]["value"] == 0.5 for k in categories)


def test_arena_hard_creative_writing_gets_its_own_system_prompt(tmp_path: Path) -> None:
    samples = benchmarks.get("arena_hard").load(Params(), None)
    bench = benchmarks.get("arena_hard")
    by_cat = {s.meta["category"]: s for s in samples}
    hard = bench.judge_requests(by_cat["hard_prompt"], ["x"])[0][0]["content"]  # type: ignore[attr-defined]
    creative = bench.judge_requests(by_cat["creative_writing"], ["x"])[0][0]["content"]  # type: ignore[attr-defined]
    assert "generating your own answer" in hard and "generating your own answer" not in creative


# -- AlpacaEval --------------------------------------------------------------------------


def test_alpaca_eval_data_is_805_with_gpt4_turbo_baseline() -> None:
    samples = benchmarks.get("alpaca_eval").load(Params(), None)
    assert len(samples) == 805 and {s.target for s in samples} == {"gpt4_1106_preview"}


def test_alpaca_eval_win_rates_in_both_orders(tmp_path: Path) -> None:
    results, _, judge = run("alpaca_eval", fj.alpaca_marked, tmp_path / "a", limit_samples=15)
    assert results["metrics"]["win_rate"]["value"] == 1.0
    assert results["metrics"]["win_rate"]["n"] == 30 and judge.total == 30
    biased, _, _ = run("alpaca_eval", fj.alpaca_first, tmp_path / "b", limit_samples=15)
    m = biased["metrics"]
    assert m["win_rate"]["value"] == 0.5
    assert m["win_rate_model_first"]["value"] == 1.0 and m["win_rate_model_second"]["value"] == 0.0


def test_alpaca_eval_unparseable_replies_are_errors(tmp_path: Path) -> None:
    results, target, judge = run("alpaca_eval", fj.garbage, tmp_path, limit_samples=5)
    assert results["counts"] == {"total": 5, "scored": 0, "errors": 5}
    assert (target.total, judge.total) == (5, 10)
