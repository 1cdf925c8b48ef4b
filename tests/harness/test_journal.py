"""samples.jsonl: line format, torn lines, refused resumes, retried errors, atomic rewrite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.harness.errors import InputError
from proctor.harness.journal import Entry, Journal, JournalMismatchError

HASH = "0123456789abcdef"
FIELDS = [
    "schema_version",
    "id",
    "repeat",
    "config_hash",
    "status",
    "prompt",
    "response",
    "reasoning",
    "finish_reason",
    "usage",
    "latency_s",
    "attempts",
    "target",
    "extracted",
    "scores",
    "error",
    "time",
]


def entry(sample_id: str, repeat: int = 0, *, ok: bool = True, score: float = 1.0) -> Entry:
    return Entry(
        id=sample_id,
        repeat=repeat,
        status="scored" if ok else "error",
        prompt=[{"role": "user", "content": f"question {sample_id}"}],
        response="42" if ok else None,
        reasoning=None,
        finish_reason="stop" if ok else None,
        prompt_tokens=10 if ok else None,
        completion_tokens=2 if ok else None,
        latency_s=0.5,
        attempts=1 if ok else 6,
        target="42",
        extracted="42" if ok else None,
        scores={"exact_match": score} if ok else {},
        error=None if ok else "http_503: busy",
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_have_the_documented_fields_in_order(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
        journal.append(entry("b", ok=False))
        assert ("a", 0) in journal and ("b", 0) in journal and ("a", 1) not in journal
    first, second = lines(path)
    assert list(first) == FIELDS
    assert first["usage"] == {"prompt_tokens": 10, "completion_tokens": 2}
    assert first["config_hash"] == HASH and first["time"].endswith("Z")
    assert (second["status"], second["error"], second["scores"]) == ("error", "http_503: busy", {})


def test_each_line_is_flushed_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
        assert len(path.read_text().splitlines()) == 1  # visible before close


def test_appending_a_key_twice_is_a_bug(tmp_path: Path) -> None:
    with Journal(tmp_path / "samples.jsonl", HASH) as journal:
        journal.append(entry("a"))
        with pytest.raises(ValueError, match="already"):
            journal.append(entry("a"))


def test_resume_keeps_scored_lines_and_their_tally(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a", score=1.0))
        journal.append(entry("b", score=0.0))
        journal.append(entry("a", 1, score=1.0))
    before = path.read_bytes()
    with Journal(path, HASH) as journal:
        assert (journal.kept, journal.retrying, journal.discarded) == (3, 0, 0)
        assert len(journal) == 3 and ("a", 1) in journal
        assert list(journal.tally.scores["exact_match"]) == [1.0, 0.0, 1.0]
        assert journal.tally.prompt_tokens == 30 and journal.tally.scored == 3
    assert path.read_bytes() == before  # nothing dropped, nothing rewritten


def test_torn_last_line_is_ignored_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
        journal.append(entry("b"))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])  # the writer died inside line b
    with Journal(path, HASH) as journal:
        assert (journal.kept, journal.discarded) == (1, 1)
        assert ("b", 0) not in journal
        journal.append(entry("b"))
    assert [line["id"] for line in lines(path)] == ["a", "b"]


def test_a_complete_json_line_without_its_newline_is_torn_too(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with Journal(path, HASH) as journal:
        assert journal.kept == 0 and journal.discarded == 1
    assert path.read_bytes() == b""


def test_another_config_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, "ffffffffffffffff") as journal:
        journal.append(entry("a"))
    before = path.read_bytes()
    with pytest.raises(JournalMismatchError, match="start a new invocation instead") as info:
        Journal(path, HASH)
    assert isinstance(info.value, InputError)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


def test_error_lines_are_dropped_for_retry_and_the_file_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
        journal.append(entry("b", ok=False))
        journal.append(entry("c"))
    with Journal(path, HASH) as journal:
        assert (journal.kept, journal.retrying) == (2, 1)
        assert ("b", 0) not in journal
        assert journal.tally.errors == 0
    assert [line["id"] for line in lines(path)] == ["a", "c"]
    assert [p.name for p in tmp_path.iterdir()] == ["samples.jsonl"]  # no temp file left


def test_duplicates_and_garbage_lines_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Journal(path, HASH) as journal:
        journal.append(entry("a"))
    good = path.read_text()
    path.write_text(good + good + "not json\n" + "[1, 2]\n" + "\n")
    with Journal(path, HASH) as journal:
        assert (journal.kept, journal.discarded) == (1, 4)
    assert path.read_text() == good


def test_missing_file_starts_empty(tmp_path: Path) -> None:
    with Journal(tmp_path / "samples.jsonl", HASH) as journal:
        assert len(journal) == 0 and journal.kept == 0
    assert (tmp_path / "samples.jsonl").exists()


def test_odd_values_are_written_safely(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    odd = Entry(**{**entry("a").__dict__, "response": "lone \ud800 surrogate", "target": {1, 2}})
    with Journal(path, HASH) as journal:
        journal.append(odd)
    (line,) = lines(path)
    assert line["response"] == "lone \ud800 surrogate"
    assert line["target"] == "{1, 2}"
