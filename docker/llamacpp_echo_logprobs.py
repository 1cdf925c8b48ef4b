"""Fix llama-cpp-python 0.3.36's echoed prompt log-probabilities for models without BOS.

Applied to the installed ``llama_cpp/llama.py`` when the proctor-llamacpp image is built
(docker/llamacpp.Dockerfile); the build fails if the code it patches is not found exactly
once, so a version bump cannot silently drop the fix.

The bug (abetlen/llama-cpp-python#1983): with ``echo`` and ``logprobs``,
``Llama._create_completion`` pairs prompt token i with row i of the logits, ``self._scores``.
Row j holds the distribution that follows evaluated token j. When the prompt starts with
BOS, BOS is row 0 and is dropped from the echoed tokens, so echoed token i (the (i+1)-th
evaluated one) meets row i, the distribution that predicts it: right. A model that adds no
BOS (SmolLM2, Qwen, GPT-2 style tokenizers) has no such row to drop, so every echoed token
gets the distribution of the token after it: " Paris" after "The capital of France is"
reads -8.45 instead of the -0.26 the same server reports when it generates " Paris".

The fix prepends one row in that case, so echoed token i meets row i - 1 (the first token's
value is replaced by null a few lines later anyway, as OpenAI does), and the generated
token, which the unpatched zip() dropped for lack of a row, gets its own again.
"""

from __future__ import annotations

import sys
from pathlib import Path

ORIGINAL = """\
            all_logprobs = Llama.logits_to_logprobs(self._scores)[token_offset:]
"""
PATCHED = """\
            all_logprobs = Llama.logits_to_logprobs(self._scores)[token_offset:]
            # proctor patch (abetlen/llama-cpp-python#1983): without a leading BOS, row i
            # of the logits predicts prompt token i + 1, so shift the rows by one.
            if echo and prompt_tokens and prompt_tokens[0] != self.token_bos():
                all_logprobs = np.concatenate([all_logprobs[:1], all_logprobs])
"""

# Speed, not correctness: the echo loop sorted the whole vocabulary (49,152 entries for
# SmolLM2) as Python tuples for every prompt token, to keep the top ``logprobs`` of them;
# a 180-token prompt took seconds. argpartition finds the same top entries.
ORIGINAL_TOP = """\
                sorted_logprobs = list(
                    sorted(
                        zip(logprobs_token, range(len(logprobs_token))), reverse=True
                    )
                )
"""
PATCHED_TOP = """\
                # proctor patch: the top `logprobs` entries, not the whole vocabulary sorted
                top_k = min(max(logprobs, 1), len(logprobs_token))
                top_ids = np.argpartition(logprobs_token, -top_k)[-top_k:]
                sorted_logprobs = sorted(
                    ((float(logprobs_token[i]), int(i)) for i in top_ids), reverse=True
                )
"""


def patch(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for original, patched in ((ORIGINAL, PATCHED), (ORIGINAL_TOP, PATCHED_TOP)):
        if source.count(original) != 1:
            sys.exit(f"{path}: the echo-logprobs code to patch was not found exactly once")
        source = source.replace(original, patched)
    path.write_text(source, encoding="utf-8")
    print(f"patched {path} (echoed prompt logprobs without BOS; top logprobs by argpartition)")


if __name__ == "__main__":
    patch(Path(sys.argv[1]))
