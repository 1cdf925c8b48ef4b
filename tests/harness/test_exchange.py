"""The exchanged files' models: old files still read, bad ones are None, numbers kept."""

from __future__ import annotations

import json

import pytest

from proctor.harness.exchange import InvocationRecord, JournalLine, ProgressFile, ResultsFile

OLD_LINE = {"id": "q1", "repeat": 0, "config_hash": "h", "status": "scored", "scores": {"a": 1}}


def test_a_line_written_before_schema_version_reads_as_version_1():
    line = JournalLine.parse(json.dumps(OLD_LINE))
    assert line is not None and line.schema_version == 1 and line.key == ("q1", 0)
    assert line.scores == {"a": 1} and isinstance(line.scores["a"], int)
    assert list(line.dump())[0] == "schema_version" and "judgement" not in line.dump()


@pytest.mark.parametrize(
    "change",
    [
        {"repeat": True},
        {"repeat": -1},
        {"id": 1.5},
        {"status": "done"},
        {"scores": {"a": "1"}},
        {"scores": {"a": True}},
        {"usage": [1]},
        {"latency_s": "fast"},
    ],
)
def test_a_malformed_line_is_none(change):
    assert JournalLine.parse(json.dumps({**OLD_LINE, **change})) is None


@pytest.mark.parametrize(
    "text", ["", "{", '{"id": "q", "repeat": 0, "status": "scored", "latency_s": NaN}']
)
def test_torn_or_non_json_text_is_none(text):
    assert JournalLine.parse(text) is None


def test_progress_results_and_invocation_records_read_old_files():
    assert ProgressFile.parse('{"done": 1, "failed": null, "total": 3}').failed == 0
    results = ResultsFile.parse(
        '{"status": "ok", "counts": {"total": 1, "scored": 1, "errors": 0}}'
    )
    assert results is not None and results.schema_version == 1 and results.metrics == {}
    record = InvocationRecord.parse(
        {"id": "0123abcd", "jobs": [{"id": "0123abcd.0", "index": 0, "task": "t"}]}
    )
    assert record is not None and record.jobs[0].task == "t" and record.config is None
    assert InvocationRecord.parse({"id": "0123abcd"}) is None


def test_results_with_malformed_metrics_keep_the_good_ones_and_count_the_rest():
    text = (
        '{"status": "ok", "counts": {"total": 2, "scored": 2, "errors": 0}, "metrics": '
        '{"acc": {"value": 0.5, "n": 2}, "bad": {"value": "0.5"}, "worse": null}}'
    )
    assert ResultsFile.parse(text) is None  # the strict reading refuses the whole file
    results, skipped = ResultsFile.parse_skipping_metrics(text)
    assert results is not None and list(results.metrics) == ["acc"] and skipped == 2
    assert ResultsFile.parse_skipping_metrics('{"status": "ok", "metrics": {}}') == (None, 0)
    assert ResultsFile.parse_skipping_metrics('{"status": NaN}') == (None, 0)
