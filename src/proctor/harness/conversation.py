"""Multi-turn conversations: each later user turn is sent with the model's own earlier replies.

MT-Bench's second question ("Rewrite your previous response...") only makes sense after
the model's first answer, so the runner cannot send the turns as independent prompts.
The history carries the answer text with ``<think>`` blocks already moved out (what the
user would have seen), as FastChat's gen_api_answer does with its answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.harness.benchmarks.base import Message, Sample
from proctor.harness.client import Client, Completion, Failure


@dataclass(frozen=True)
class Conversation:
    """Every turn of one sample: what was sent last, each turn's answer, the usage summed.

    ``messages`` is the final request's message list (every user turn and every earlier
    reply), or the plain prompt of a single-turn completions request; ``error`` is the
    failure of the turn that stopped the conversation, and then ``answers`` holds only the
    turns before it.
    """

    messages: list[Message] | str
    answers: list[str]
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    attempts: int
    error: Failure | None = None


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


async def converse(
    client: Client, sample: Sample, prompt: list[Message] | str, *, seed: int
) -> Conversation:
    """Send ``prompt`` (already formatted), then each of ``sample.followups`` in turn.

    Args:
        client: The target's client.
        sample: Its ``followups`` are the later user turns (none for a single-turn sample).
        prompt: The first turn as format_prompt made it.
        seed: The request seed, the same for every turn of this (sample, repeat).
    """
    if sample.followups and isinstance(prompt, str):
        raise ValueError(f"sample {sample.id!r} has several turns: it needs a chat endpoint")
    messages = prompt
    answers: list[str] = []
    reasoning: list[str] = []
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency = 0.0
    attempts = 0
    last: Completion | None = None
    for turn in range(1 + len(sample.followups)):
        if turn:
            assert not isinstance(messages, str) and last is not None
            messages = [
                *messages,
                {"role": "assistant", "content": last.text},
                {"role": "user", "content": sample.followups[turn - 1]},
            ]
        last = await client.complete(messages, seed=seed)
        latency += last.latency_s
        attempts += last.attempts
        prompt_tokens = _add(prompt_tokens, last.prompt_tokens)
        completion_tokens = _add(completion_tokens, last.completion_tokens)
        if last.error is not None:
            break
        answers.append(last.text)
        if last.reasoning:
            reasoning.append(last.reasoning)
    assert last is not None
    return Conversation(
        messages=messages,
        answers=answers,
        reasoning="\n\n".join(reasoning) or None,
        finish_reason=last.finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=latency,
        attempts=attempts,
        error=last.error,
    )
