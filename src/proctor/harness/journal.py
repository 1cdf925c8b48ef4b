"""samples.jsonl: the append-only checkpoint journal, one line per finished (sample id, repeat).

A line is written, and flushed, only after its sample is scored (or has failed for
good), so killing the harness at any moment loses at most the requests in flight.
Line fields, in this order (other tools read this format; keep the names):

    schema_version, id, repeat, config_hash, status ("scored" | "error"), prompt,
    response, reasoning, finish_reason, usage {prompt_tokens, completion_tokens},
    latency_s, attempts, target, extracted, scores {metric: float}, error (null |
    "<class>: <message>"), time (ISO 8601 UTC), with params.num_fewshot only: fewshot
    (the example ids, in the order the prompt shows them), and on log-likelihood samples
    only: loglikelihood {chosen, chosen_norm, choices [{context (when the choices'
    contexts differ), continuation,
    chars, loglikelihood, tokens}]}, on judged samples only: judgement {model_id,
    replies, verdicts, usage, attempts}

The model of a line is proctor.harness.exchange.JournalLine, shared with every reader;
lines written before schema_version existed read as version 1.

Judged benchmarks also keep answers.jsonl (proctor.harness.judge): each answer is
journaled there as soon as it arrives, so a resume re-sends only missing judgements.

Opening a journal for a resume reads it once, streaming: a torn last line (no newline,
or not JSON) is ignored, a line from another configuration refuses the resume, error
lines are dropped so that their samples are retried, and if anything was dropped the
file is rewritten atomically, so it always holds exactly one line per (id, repeat).
Only the keys and a compact Tally stay in memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from proctor.harness.atomicfile import temp_path
from proctor.harness.benchmarks.base import Message
from proctor.harness.errors import InputError
from proctor.harness.exchange import JournalLine, Usage
from proctor.harness.metrics import Tally

FILENAME = "samples.jsonl"

Key = tuple[str, int]
Status = Literal["scored", "error"]


class JournalMismatchError(InputError):
    """The journal was written under another config hash: resuming would mix two runs."""


@dataclass(frozen=True)
class Entry:
    """One finished sample, as the runner hands it to the journal."""

    id: str
    repeat: int
    status: Status
    prompt: list[Message] | str
    response: str | None
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    attempts: int
    target: Any
    extracted: Any
    scores: dict[str, float]
    error: str | None
    # Log-likelihood samples only (proctor.harness.loglikelihood): chosen, chosen_norm and
    # each choice's continuation, chars, loglikelihood and tokens.
    loglikelihood: dict[str, Any] | None = None
    judgement: dict[str, Any] | None = None
    fewshot: list[str] | None = None


def utc_now() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. 2024-11-28T03:24:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """The open journal of one task: which (id, repeat) are done, and their tally.

    Attributes:
        path: The samples.jsonl file.
        config_hash: Written on every line; every existing line must carry it.
        tally: Scores, usage and latency of every line in the file.
        kept: Scored lines found on opening (the resumed samples).
        retrying: Error lines dropped on opening, so their samples are sent again.
        discarded: Torn, unreadable or duplicate lines dropped on opening.
    """

    def __init__(self, path: Path, config_hash: str) -> None:
        """Open (creating if needed) the journal at ``path``; see the module docstring.

        Raises:
            JournalMismatchError: A line carries another config hash.
        """
        self.path = path
        self.config_hash = config_hash
        self.tally = Tally()
        self.kept = self.retrying = self.discarded = 0
        self._done: set[Key] = set()
        dropped = self._load() if path.exists() else set()
        if dropped:
            self._rewrite_without(dropped)
        # Line buffering is not enough for a 10 KB line; append() flushes explicitly.
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives until close()

    def __contains__(self, key: Key) -> bool:
        return key in self._done

    def __len__(self) -> int:
        return len(self._done)

    def _load(self) -> set[int]:
        """Read every line once; return the numbers of the lines to drop."""
        dropped: set[int] = set()
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f):
                line = self._parse(raw)
                if line is None:
                    self.discarded += 1
                    dropped.add(number)
                    continue
                if line.config_hash != self.config_hash:
                    raise JournalMismatchError(
                        f"{self.path} line {number + 1} was written with config hash "
                        f"{line.config_hash!r}, this task's is {self.config_hash!r}: "
                        "start a new invocation instead"
                    )
                key = line.key
                if not line.scored:
                    self.retrying += 1
                    dropped.add(number)
                elif key in self._done:
                    self.discarded += 1
                    dropped.add(number)
                else:
                    self._done.add(key)
                    self.kept += 1
                    self._count(line)
        return dropped

    @staticmethod
    def _parse(raw: bytes) -> JournalLine | None:
        if not raw.endswith(b"\n"):  # torn: the writer died inside this line
            return None
        # NaN/Infinity, deep nesting, a non-number score: not a line we wrote.
        line: JournalLine | None = JournalLine.parse(raw)
        return line

    def _count(self, line: JournalLine) -> None:
        usage = line.usage or Usage()
        self.tally.add(
            line.status,
            line.scores,
            _tokens(usage.prompt_tokens),
            _tokens(usage.completion_tokens),
            line.latency_s,
        )

    def _rewrite_without(self, dropped: set[int]) -> None:
        tmp = temp_path(self.path)
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for number, raw in enumerate(src):
                if number not in dropped:
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self.path)

    def append(self, entry: Entry) -> None:
        """Write one finished sample and flush it; the key must not be journaled yet."""
        key = (entry.id, entry.repeat)
        if key in self._done:
            raise ValueError(f"{key} is already in the journal")
        line = JournalLine(
            id=entry.id,
            repeat=entry.repeat,
            config_hash=self.config_hash,
            status=entry.status,
            prompt=entry.prompt,
            response=entry.response,
            reasoning=entry.reasoning,
            finish_reason=entry.finish_reason,
            usage=Usage(
                prompt_tokens=entry.prompt_tokens, completion_tokens=entry.completion_tokens
            ),
            latency_s=entry.latency_s,
            attempts=entry.attempts,
            target=entry.target,
            extracted=entry.extracted,
            scores=entry.scores,
            error=entry.error,
            time=utc_now(),
            loglikelihood=entry.loglikelihood,
            judgement=entry.judgement,
            fewshot=entry.fewshot,
        ).dump()
        # ASCII escapes: a lone surrogate in a model's output cannot break the UTF-8 file.
        # default=str: a benchmark's target or extracted answer may be any object.
        self._file.write(json.dumps(line, default=str) + "\n")
        self._file.flush()
        self._done.add(key)
        self.tally.add(
            entry.status,
            entry.scores,
            entry.prompt_tokens,
            entry.completion_tokens,
            entry.latency_s,
        )

    def close(self) -> None:
        """Close the file; every line is already flushed."""
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def scores_by_id(path: Path) -> dict[str, list[dict[str, float]]]:
    """Each sample id's scores, one dict per scored repeat, streamed from a finished journal."""
    out: dict[str, list[dict[str, float]]] = {}
    with open(path, "rb") as f:
        for raw in f:
            line = Journal._parse(raw)
            if line is not None and line.scored:
                out.setdefault(line.id, []).append(line.numbers())
    return out


def _tokens(value: float | None) -> int | None:
    return None if value is None else int(value)
