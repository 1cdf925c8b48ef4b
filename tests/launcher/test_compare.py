"""`inv compare`: paired differences on shared samples, mismatches named (no Docker)."""

from __future__ import annotations

import json

import pytest

from proctor.launcher.errors import ProctorError
from proctor.launcher.results import compare
from tests.conftest import run_inv
from tests.fakes.invocation import make_invocation, sample

# A: right on q0-q3, wrong on q4-q11. B: right on q0-q10, wrong on q11.
# Discordant pairs: 0 favour A, 7 favour B -> McNemar p = 2 / 2^7 = 0.015625.
A_SCORES = [1.0] * 4 + [0.0] * 8
B_SCORES = [1.0] * 11 + [0.0]


def _outputs(tmp_path, *, b_params=None, b_extra_lines=(), b_prompts=None):
    out = tmp_path / "outputs"
    make_invocation(
        out,
        "aaaa1111",
        {
            "gsm8k": [sample(f"q{i}", s) for i, s in enumerate(A_SCORES)],
            "arc": [sample("a0", 1.0)],
        },
        model_id="model-a",
    )
    lines = [sample(f"q{i}", s, prompt=(b_prompts or {}).get(i)) for i, s in enumerate(B_SCORES)]
    make_invocation(
        out,
        "bbbb2222",
        {"gsm8k": lines + list(b_extra_lines), "mmlu": [sample("m0", 1.0)]},
        model_id="model-b",
        stamp="20260102-030406",
        params=b_params,
    )
    return out


def test_like_for_like_comparison(tmp_path):
    out = _outputs(tmp_path)
    c = compare.load(out, "aaaa", "bbbb")
    (task,) = c.tasks
    assert (task.task, task.shared, task.only_a, task.only_b, task.errored) == (
        "gsm8k",
        12,
        0,
        0,
        0,
    )
    assert task.differences == ()
    (m,) = task.metrics
    r = m.result
    assert m.metric == "accuracy"
    assert (r.n, r.a_only, r.b_only) == (12, 0, 7)
    assert r.diff == pytest.approx(7 / 12)
    assert r.p_value == 0.015625 and r.significant
    assert 0 < r.ci_low < r.diff < r.ci_high <= 1
    assert c.only_in_a == ("arc",) and c.only_in_b == ("mmlu",)

    text = compare.render(c, "table")
    row = next(line for line in text.splitlines() if line.startswith("gsm8k"))
    assert row.split()[:6] == ["gsm8k", "accuracy", "12", "0.333", "0.917", "+0.583"]
    assert row.split()[-2:] == ["0.0156", "*"]
    assert "only in A (not compared): arc" in text
    assert "only in B (not compared): mmlu" in text


def test_mismatched_configs_subsets_and_prompts_are_named(tmp_path):
    extra = [sample("q99", 1.0), sample("q98", None)]
    out = _outputs(
        tmp_path,
        b_params={"temperature": 0.7, "limit_samples": 14, "parallelism": 64},
        b_extra_lines=extra,
        b_prompts={0: "A different prompt", 1: "Another one"},
    )
    c = compare.load(out, "aaaa", "bbbb")
    (task,) = c.tasks
    assert task.shared == 12 and task.only_b == 2
    differences = "\n".join(task.differences)
    assert "temperature: 0.0 vs 0.7" in differences
    assert "limit_samples: null vs 14" in differences
    assert "parallelism" not in differences  # operational: does not change the result
    assert "different samples: 12 in both, 0 only in A, 2 only in B" in differences
    assert "prompts differ on 2 of 12 common samples" in differences
    text = compare.render(c, "table")
    assert "NOT like for like:" in text and "gsm8k: temperature: 0.0 vs 0.7" in text


def test_errored_samples_are_left_out_and_counted(tmp_path):
    out = tmp_path / "outputs"
    make_invocation(out, "aaaa1111", {"t": [sample("s0", 1.0), sample("s1", None)]})
    make_invocation(
        out,
        "bbbb2222",
        {"t": [sample("s0", 0.0), sample("s1", 1.0)]},
        stamp="20260102-030406",
    )
    c = compare.load(out, "aaaa", "bbbb")
    (task,) = c.tasks
    assert task.shared == 1 and task.errored == 1
    assert task.metrics[0].result.n == 1
    assert "t: 1 common samples errored in A or B: left out" in compare.render(c, "table")


def test_json_and_csv(tmp_path):
    c = compare.load(_outputs(tmp_path), "aaaa", "bbbb")
    data = json.loads(compare.render(c, "json"))
    metric = data["tasks"][0]["metrics"]["accuracy"]
    assert metric["mcnemar_p"] == 0.015625 and metric["significant"] is True
    assert (metric["a_only"], metric["b_only"]) == (0, 7)
    assert data["bootstrap"] == {"resamples": 2000, "seed": 1234, "level": 0.95}
    lines = compare.render(c, "csv").splitlines()
    assert lines[0].startswith("task,metric,n,mean_a,mean_b,diff,ci_low,ci_high,mcnemar_p")
    assert lines[1].startswith("gsm8k,accuracy,12,")


def test_refusals(tmp_path):
    out = tmp_path / "outputs"
    make_invocation(out, "aaaa1111", {"x": [sample("s", 1.0)]})
    make_invocation(out, "bbbb2222", {"y": [sample("s", 1.0)]}, stamp="20260102-030406")
    with pytest.raises(ProctorError, match="share no task"):
        compare.load(out, "aaaa", "bbbb")
    with pytest.raises(ProctorError, match="both ids name invocation aaaa1111"):
        compare.load(out, "aaaa", "aaaa1")


def test_inv_compare_command(tmp_path):
    out = _outputs(tmp_path)
    result = run_inv("compare", "aaaa", "bbbb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "A = model-a (aaaa1111)" in result.stdout
    result = run_inv("compare", "aaaa", "bbbb", "--format", "markdown", cwd=tmp_path)
    assert "| gsm8k  | accuracy |" in result.stdout
    for args, message in [
        (["aaaa"], "proctor: inv compare needs two invocation ids"),
        (["aaaa", "zzzz"], "proctor: no invocation 'zzzz'"),
        (["aaaa", "bbbb", "--format", "html"], "proctor: unknown --format 'html'"),
    ]:
        result = run_inv("compare", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().startswith(message), result.stderr
    assert out.is_dir()
