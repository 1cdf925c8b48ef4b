"""report.html: self-contained, and opened in a real headless Chromium.

Screenshots go to test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import re

import pytest

from proctor.launcher.results import htmlreport, report
from tests import chromium
from tests.conftest import ROOT
from tests.fakes.invocation import make_invocation, sample

ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = '</script><script>document.title="pwned"</script><img src=x onerror="alert(1)">'


def _two_metrics(ident: str, f1: float, exact: float) -> dict:
    line = sample(ident, f1, metric="f1")
    line["scores"] = {"f1": f1, "exact_match": exact}
    return line


def _tasks() -> dict[str, list[dict]]:
    return {
        # 3 right, 2 wrong, 2 errored; one response tries to break out of the page.
        "gsm8k": [
            sample("g1", 1.0),
            sample("g2", 1.0, response=HOSTILE),
            sample("g3", 1.0),
            sample("g4", 0.0, extracted="5"),
            sample("g5", 0.0, response="x" * 10_000),
            sample("g6", None, error="timeout: no answer in 120 s"),
            sample("g7", None),
        ],
        "squad": [_two_metrics("s1", 1.0, 1.0), _two_metrics("s2", 0.5, 0.0)],
        "big": [sample(f"b{i}", float(i % 3 == 0)) for i in range(150)],
    }


@pytest.fixture
def one(tmp_path):
    folder = make_invocation(tmp_path / "outputs", "aaaa1111", _tasks(), model_id="model-a")
    reports = report.load(tmp_path / "outputs", ["aaaa"])
    return htmlreport.write(reports, folder / "report.html")


def test_page_is_self_contained_and_escapes_sample_text(one):
    html = one.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"<[a-z][^>]*\s(src|href)\s*=", html)  # nothing to fetch
    # The only </script> tags close the page's own scripts: one per browser, one of code.
    assert html.count("</script>") == html.count("<script") == 3 + 1
    assert "document.title=\\u0022pwned" not in html  # tojson escaped it: \u003c/script\u003e
    assert "\\u003c/script\\u003e" in html
    assert "... [cut: 6,000 more characters]" in html


def _rows(elements, section_task):
    sections = {e.attrs["id"]: e.attrs["data-task"] for e in elements if e.tag == "section"}
    return [
        e
        for e in elements
        if e.tag == "tr" and "sample" in e.classes and sections.get(e.section) == section_task
    ]


def test_report_opens_in_chromium_without_console_errors(one):
    page = chromium.load(one)
    assert page.console == []
    found = chromium.elements(page.dom)
    charts = [e for e in found if e.tag == "svg" and "chart" in e.classes]
    assert sorted(e.attrs["data-metric"] for e in charts) == ["accuracy", "exact_match", "f1"]
    # Every sample is listed (a page of 100 at a time), each with its state.
    assert [e.attrs["data-kind"] for e in _rows(found, "gsm8k")] == [
        "right",
        "right",
        "right",
        "wrong",
        "wrong",
        "error",
        "error",
    ]
    assert len(_rows(found, "squad")) == 2
    assert len(_rows(found, "big")) == 100
    counters = {e.section: "".join(e.text) for e in found if "count" in e.classes}
    assert "showing 100 of 150 samples" in counters.values()
    assert "showing 7 of 7 samples" in counters.values()
    # The hostile response is text on the page, not markup: no image, title unchanged.
    assert not [e for e in found if e.tag == "img"]
    assert "pwned" not in "".join(e.text[0] for e in found if e.tag == "title")
    assert any(HOSTILE in "".join(e.text) for e in found if e.tag == "pre")

    chromium.screenshot(one, ARTIFACTS / "report.png")


@pytest.mark.parametrize(
    ("fragment", "kind", "gsm8k", "big"), [("wrong", "wrong", 2, 100), ("error", "error", 2, 0)]
)
def test_filters_show_only_wrong_or_errored_samples(one, fragment, kind, gsm8k, big):
    page = chromium.load(one, f"filter={fragment}")
    assert page.console == []
    found = chromium.elements(page.dom)
    rows = _rows(found, "gsm8k")
    assert len(rows) == gsm8k and {e.attrs["data-kind"] for e in rows} == {kind}
    assert len(_rows(found, "big")) == big
    if fragment == "wrong":
        counters = ["".join(e.text) for e in found if "count" in e.classes]
        assert "showing 100 of 100 matching samples (150 in all)" in counters


def test_several_invocations_side_by_side(tmp_path):
    out = tmp_path / "outputs"
    make_invocation(out, "aaaa1111", _tasks(), model_id="model-a")
    tasks_b = _tasks()
    del tasks_b["squad"]
    make_invocation(out, "bbbb2222", tasks_b, model_id="model-b", stamp="20260102-030406")
    reports = report.load(out, ["aaaa", "bbbb"])
    path = htmlreport.write(reports, htmlreport.default_path(out, reports))
    assert path == out / "report-aaaa1111-bbbb2222.html"

    page = chromium.load(path)
    assert page.console == []
    found = chromium.elements(page.dom)
    charts = [e for e in found if e.tag == "svg" and "chart" in e.classes]
    assert len(charts) == 3
    bars = {}
    for e in found:
        if e.tag == "g" and "bar" in e.classes:
            svg = next(c for c in reversed(charts) if found.index(c) < found.index(e))
            bars[svg.attrs["data-metric"]] = bars.get(svg.attrs["data-metric"], 0) + 1
    # accuracy: gsm8k and big in both invocations; f1, exact_match: squad in A only.
    assert bars == {"accuracy": 4, "f1": 1, "exact_match": 1}
    sections = [e for e in found if e.tag == "section" and "browser" in e.classes]
    assert len(sections) == 3 + 2

    chromium.screenshot(path, ARTIFACTS / "report-two-invocations.png")


def test_console_errors_are_caught(tmp_path):
    # The check above must be able to fail: a page with a script error is seen as one.
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><title>x</title><script>undefinedFunction();</script>")
    page = chromium.load(broken)
    assert any("undefinedFunction" in message for message in page.console)


def test_journal_is_capped_and_a_retried_sample_keeps_its_last_line(tmp_path, monkeypatch):
    lines = [sample(f"q{i}", 1.0) for i in range(5)]
    lines.insert(1, sample("q3", None))  # errored first, scored on the retry
    folder = make_invocation(tmp_path / "outputs", "aaaa1111", {"t": lines})
    monkeypatch.setattr(htmlreport, "MAX_SAMPLES", 3)
    rows, total = htmlreport.sample_rows(folder / "t" / "artifacts" / "samples.jsonl")
    assert total == 5
    assert [(r["id"], r["kind"]) for r in rows] == [
        ("q0", "right"),
        ("q3", "right"),
        ("q1", "right"),
    ]
    html = htmlreport.render(report.load(tmp_path / "outputs", []))
    assert "Showing the first 3 of 5 samples" in html


@pytest.mark.parametrize(
    ("said", "written"), [("go\n", True), ("", False), ("stop\n", False), ("gone\n", False)]
)
def test_the_waiting_writer_writes_only_after_go(tmp_path, said, written):
    """run_all.sh starts the writer beside the tasks and says go when they have ended; a
    driver that dies first closes the input without go, and nothing is written."""
    import subprocess
    import sys

    folder = make_invocation(tmp_path, "abcd1234", {"gsm8k": [sample("1", 1.0)]})
    ran = subprocess.run(
        [sys.executable, "-m", "proctor.launcher.results.htmlreport", "--on-go", str(folder)],
        input=said,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert (folder / "report.html").is_file() is written
    assert ("report:" in ran.stdout) is written


@pytest.mark.parametrize(
    "value",
    [
        {"stderr": float("nan")},
        [1.0, float("inf")],
        {"rows": [{"scores": {"x": -float("inf")}}, {"scores": {"x": 0.5}}]},
        {"plain": [1, 2.5, "NaN", None]},
    ],
)
def test_the_page_data_is_json_that_javascript_parses(value):
    """JSON.parse refuses NaN and Infinity: they become null, wherever they sit, and the
    rest is kept as it was."""
    text = htmlreport._finite_dumps(value)
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {text}"))
    assert json.dumps(parsed) == json.dumps(htmlreport._finite(value))


def test_getting_ready_never_fails_the_writer(tmp_path, monkeypatch):
    """The rehearsal before go is best effort: an unreadable folder, or a render that fails
    in any way, leaves the writer waiting for go as usual."""

    def broken(*_args, **_kwargs):
        raise RuntimeError("half-written folder")

    htmlreport._get_ready(tmp_path / "missing", htmlreport._template())
    folder = make_invocation(tmp_path, "abcd5678", {"gsm8k": [sample("1", 1.0)]})
    monkeypatch.setattr(htmlreport, "render", broken)
    htmlreport._get_ready(folder, htmlreport._template())
