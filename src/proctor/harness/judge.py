"""Two-stage samples: the target answers (every turn), then a judge model grades the answers.

Each stage is journaled on its own, so a resume after a crash or a judge outage re-sends
only what is missing:

- ``answers.jsonl`` gets one line per (sample id, repeat) as soon as the target has
  answered every turn: id, repeat, config_hash, prompt (the last request's messages),
  answers (one per turn), reasoning, finish_reason, usage, latency_s, attempts, time.
- ``samples.jsonl`` (proctor.harness.journal) gets the usual line once the judge's
  verdict is in, with a ``judgement`` field: the judge's model_id, its reply text per
  request, the parsed verdicts and the judge's token usage.

A sample whose answers are journaled is never sent to the target again: when its judge
request fails (endpoint error, or a reply with no verdict in it: UnparseableVerdict), the
sample is journaled as an error, which a resume drops and retries from its answers.
A verdict that cannot be parsed is never a score.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from proctor.harness.atomicfile import temp_path
from proctor.harness.benchmarks.base import (
    Judged,
    Message,
    Sample,
    UnparseableVerdict,
)
from proctor.harness.client import Client, Completion, api_key
from proctor.harness.conversation import Conversation, converse
from proctor.harness.errors import InputError
from proctor.harness.journal import Entry, JournalMismatchError, utc_now
from proctor.harness.taskfile import TaskSpec

ANSWERS_FILENAME = "answers.jsonl"

Key = tuple[str, int]


class AnswerBook:
    """answers.jsonl: the target's journaled answers that have no final verdict yet.

    Opening reads the file once: a torn last line is dropped (and the file rewritten
    without it, so the next line starts clean), a line of another config hash refuses the
    resume, and only answers of keys not in ``done`` stay in memory.
    """

    def __init__(self, path: Path, config_hash: str, done: Any) -> None:
        self.path = path
        self.config_hash = config_hash
        self.pending: dict[Key, dict[str, Any]] = {}
        self.kept = 0
        torn = False
        if path.exists():
            torn = self._load(done)
            if torn:
                self._rewrite()
        self._file: Any = None

    def _load(self, done: Any) -> bool:
        torn = False
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f):
                try:
                    line = json.loads(raw) if raw.endswith(b"\n") else None
                except ValueError:
                    line = None
                if not isinstance(line, dict) or not isinstance(line.get("repeat"), int):
                    torn = True
                    continue
                if line.get("config_hash") != self.config_hash:
                    raise JournalMismatchError(
                        f"{self.path} line {number + 1} was written with config hash "
                        f"{line.get('config_hash')!r}, this task's is {self.config_hash!r}: "
                        "start a new invocation instead"
                    )
                key = (str(line.get("id")), line["repeat"])
                if key not in done and isinstance(line.get("answers"), list):
                    self.pending.setdefault(key, line)
        self.kept = len(self.pending)
        return torn

    def _rewrite(self) -> None:
        """The file without its unreadable lines (atomically)."""
        tmp = temp_path(self.path)
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                try:
                    if raw.endswith(b"\n") and isinstance(json.loads(raw), dict):
                        dst.write(raw)
                except ValueError:
                    continue
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self.path)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self.pending.get(key)

    def append(self, sample_id: str, repeat: int, conv: Conversation) -> dict[str, Any]:
        """Journal one sample's answers (flushed before the judge is asked)."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - see close()
        line = {
            "id": sample_id,
            "repeat": repeat,
            "config_hash": self.config_hash,
            "prompt": conv.messages,
            "answers": conv.answers,
            "reasoning": conv.reasoning,
            "finish_reason": conv.finish_reason,
            "usage": {
                "prompt_tokens": conv.prompt_tokens,
                "completion_tokens": conv.completion_tokens,
            },
            "latency_s": round(conv.latency_s, 6),
            "attempts": conv.attempts,
            "time": utc_now(),
        }
        self._file.write(json.dumps(line, default=str) + "\n")
        self._file.flush()
        self.pending[(sample_id, repeat)] = line
        return line

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def judge_key(spec: TaskSpec) -> str | None:
    """The judge's API key, checked before anything is sent.

    Raises:
        InputError: The task has no judge, or the judge's key variable is unset.
    """
    if spec.judge is None:
        raise InputError(
            f"benchmark {spec.benchmark!r} is scored by a judge model: set evaluation.judge "
            "(url, model_id, api_key_name) or the task's judge"
        )
    try:
        return api_key(spec.judge.endpoint)
    except InputError as e:
        raise InputError(str(e).replace("endpoint.api_key_name", "judge.api_key_name")) from None


class TwoStage:
    """Runs judged samples: answers from the target (or answers.jsonl), verdicts from the judge.

    Use as ``async with TwoStage(...) as stage: entry = await stage.evaluate(...)``; the
    judge's client lives as long as the block.
    """

    def __init__(self, spec: TaskSpec, benchmark: Judged, results_dir: Path, done: Any) -> None:
        """Check the judge (see judge_key) and read the journaled answers.

        Args:
            done: The keys whose verdict is journaled (the task's Journal).
        """
        self.key = judge_key(spec)
        assert spec.judge is not None
        self.spec = spec
        self.judge = spec.judge
        self.benchmark = benchmark
        self.max_tokens = self.judge.params.max_tokens or benchmark.default_judge_max_tokens
        self.answers = AnswerBook(results_dir / ANSWERS_FILENAME, spec.config_hash(), done)
        self._client: Client | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> TwoStage:
        client = Client(
            self.judge.endpoint,
            self.judge.params.as_params(),
            max_tokens=self.max_tokens,
            api_key=self.key,
        )
        self._client = await self._stack.enter_async_context(client)
        self._stack.callback(self.answers.close)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        self._client = None

    async def evaluate(
        self, target: Client, sample: Sample, repeat: int, prompt: list[Message] | str, *, seed: int
    ) -> Entry:
        """One (sample, repeat) through both stages; endpoint trouble becomes an error entry."""
        stored = self.answers.get((sample.id, repeat))
        if stored is None:
            conv = await converse(target, sample, prompt, seed=seed)
            if conv.error is not None:
                spent = {
                    "usage": {
                        "prompt_tokens": conv.prompt_tokens,
                        "completion_tokens": conv.completion_tokens,
                    },
                    "latency_s": round(conv.latency_s, 6),
                    "attempts": conv.attempts,
                }
                return _entry(sample, repeat, conv.messages, spent, error=str(conv.error))
            stored = self.answers.append(sample.id, repeat, conv)
        answers = [str(a) for a in stored["answers"]]
        assert self._client is not None, "TwoStage used outside 'async with'"
        requests = self.benchmark.judge_requests(sample, answers)
        seed_j = self.judge.params.seed
        replies: list[Completion] = await asyncio.gather(
            *(
                self._client.complete(_judge_prompt(m, self.judge.type), seed=seed_j)
                for m in requests
            )
        )
        judgement: dict[str, Any] = {
            "model_id": self.judge.model_id,
            "replies": [r.text if r.error is None else None for r in replies],
            "usage": {
                "prompt_tokens": sum(r.prompt_tokens or 0 for r in replies),
                "completion_tokens": sum(r.completion_tokens or 0 for r in replies),
            },
            "attempts": sum(r.attempts for r in replies),
        }
        failed = next((r.error for r in replies if r.error is not None), None)
        if failed is not None:
            return _entry(sample, repeat, stored["prompt"], stored, f"judge: {failed}", judgement)
        try:
            score = self.benchmark.verdict(sample, answers, [r.text for r in replies])
        except UnparseableVerdict as e:
            return _entry(sample, repeat, stored["prompt"], stored, f"judge: {e}", judgement)
        except Exception as e:  # a verdict parser's bug must cost one sample, not the run
            error = f"scoring: {type(e).__name__}: {e}"
            return _entry(sample, repeat, stored["prompt"], stored, error, judgement)
        judgement["verdicts"] = score.extracted
        scores = {name: float(value) for name, value in score.scores.items()}
        return _entry(sample, repeat, stored["prompt"], stored, None, judgement, scores)


def _judge_prompt(messages: list[Message], judge_type: str) -> list[Message] | str:
    if judge_type == "chat":
        return messages
    return "\n\n".join(m["content"] for m in messages)


def _entry(
    sample: Sample,
    repeat: int,
    prompt: Any,
    stored: dict[str, Any] | None,
    error: str | None,
    judgement: dict[str, Any] | None = None,
    scores: dict[str, float] | None = None,
) -> Entry:
    """The samples.jsonl entry: the target's side from ``stored`` (its answers line)."""
    stored = stored or {}
    usage = stored.get("usage") or {}
    answers = stored.get("answers") or []
    return Entry(
        id=sample.id,
        repeat=repeat,
        status="error" if error is not None else "scored",
        prompt=prompt,
        response=answers[-1] if answers else None,
        reasoning=stored.get("reasoning"),
        finish_reason=stored.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_s=stored.get("latency_s"),
        attempts=int(stored.get("attempts") or 0),
        target=sample.target,
        extracted=(judgement or {}).get("verdicts"),
        scores=scores or {},
        error=error,
        judgement=judgement,
    )
