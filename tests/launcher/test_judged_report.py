"""Judged tasks in inv report, inv compare and report.html: like any other, plus the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.launcher.errors import ProctorError
from proctor.launcher.results import compare, htmlreport, report, rescore
from tests.fakes.invocation import make_invocation, sample


def judged(ident: str, score: float | None, reply: str) -> dict[str, Any]:
    line = sample(ident, score, metric="score", response=f"answer {ident}")
    if score is None:
        line["error"] = f"judge: unparseable verdict (expected [[rating]]): {reply!r}"
        line["response"] = f"answer {ident}"
    line["judgement"] = {
        "model_id": "judge-model",
        "replies": [reply, "Second turn. Rating: [[6]]"],
        "verdicts": [score, 6] if score is not None else None,
        "usage": {"prompt_tokens": 100, "completion_tokens": 20},
    }
    return line


def tasks(shift: float) -> dict[str, list[dict[str, Any]]]:
    return {
        "mtbench": [
            judged("mtbench/81", 7.0 + shift, f"Good. Rating: [[{7 + shift:g}]]"),
            judged("mtbench/82", 5.0 + shift, f"Fine. Rating: [[{5 + shift:g}]]"),
            judged("mtbench/83", None, "I cannot decide."),
        ]
    }


def test_report_compare_and_html_show_judged_metrics(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    folder = make_invocation(outputs, "aaaa1111", tasks(0.0))
    make_invocation(outputs, "bbbb2222", tasks(1.0), stamp="20260102-040506")
    a, b = report.load(outputs, ["aaaa", "bbbb"])
    table = report.render([a])
    assert "mtbench  score     6.000    [4.040, 7.960]  2    1" in table
    data = report.as_dict([a])
    assert "mtbench" in str(data) and "errors" in str(data)
    diff = compare.render(compare.compare(a, b, resamples=200))
    assert "mtbench" in diff and "score" in diff and "+1.000" in diff
    html = htmlreport.write([a], folder / "report.html").read_text()
    assert "Good. Rating: [[7]]" in html and "Second turn. Rating: [[6]]" in html
    assert "I cannot decide." in html and "judge judge-model" in html
    assert "judge\\u0027s verdict" in html or "judge's verdict" in html


def test_judgement_text_lists_every_reply() -> None:
    text = htmlreport.judgement_text(
        {"model_id": "j", "replies": ["one [[A>B]]", None], "verdicts": ["A>B"]}
    )
    assert text is not None
    assert text.splitlines()[0] == "judge j, verdicts: A>B"
    assert "[1/2]\none [[A>B]]" in text and "(no reply: request failed)" in text
    assert htmlreport.judgement_text(None) is None


def test_compare_names_a_different_judge(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    make_invocation(outputs, "aaaa1111", tasks(0.0))
    other = make_invocation(outputs, "bbbb2222", tasks(1.0), stamp="20260102-040506")
    for folder, model in ((outputs / "20260102-030405-aaaa1111", "judge-a"), (other, "judge-b")):
        spec_path = folder / "mtbench" / "task.yaml"
        spec = yaml.safe_load(spec_path.read_text())
        spec["judge"] = {
            "url": "http://127.0.0.1:9/v1",
            "model_id": model,
            "type": "chat",
            "params": {"temperature": 0.0, "parallelism": 4 if model == "judge-a" else 8},
        }
        spec_path.write_text(yaml.safe_dump(spec))
    a, b = report.load(outputs, ["aaaa", "bbbb"])
    (task,) = compare.compare(a, b, resamples=200).tasks
    differences = task.differences
    assert 'judge: "judge-a" vs "judge-b"' in differences
    assert not any("parallelism" in d for d in differences)  # operational: not a difference


def test_rescore_leaves_judged_tasks_alone_in_one_line(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    folder = make_invocation(outputs, "aaaa1111", tasks(0.0))
    journal = (folder / "mtbench" / "artifacts" / "samples.jsonl").read_text()
    with pytest.raises(ProctorError, match="cannot rescore mtbench: .*judge model's verdicts"):
        rescore.rescore(outputs, "aaaa", ["mtbench"])
    assert (folder / "mtbench" / "artifacts" / "samples.jsonl").read_text() == journal
