"""Names from a config or from a file on disk, checked before they become paths or script text.

A task name becomes a folder, a container name and a word in run.sh; a variable name
becomes ``${!name}`` in bash. Each is checked with a full match (``re.match`` with ``$``
accepts a trailing newline, which a YAML ``|`` block adds naturally). A value that looks
like a pasted secret is refused showing only ``redact()`` of it.
"""

from __future__ import annotations

import math
import re
from collections import Counter

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Files and folders of an invocation itself: a task folder of that name would overwrite them.
RESERVED = frozenset(
    {
        "deployment",
        "deploy.sh",
        "invocation.yaml",
        "logs",
        "report.html",
        "report.sbatch",
        "run_all.log",
        "run_all.pid",
        "run_all.sh",
    }
)
# Prefixes of the tokens people paste most: OpenAI/Anthropic, Hugging Face, GitHub,
# NVIDIA, GitLab, Slack, AWS access key ids, Google API keys.
TOKEN_PREFIXES = (
    "sk-",
    "sk_",
    "hf_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "nvapi-",
    "glpat-",
    "xox",
    "AKIA",
    "AIza",
)


def redact(value: object) -> str:
    """At most a four-character prefix of a value that may be a secret, and its length."""
    text = str(value)
    return f"'{text[:4]}...' ({len(text)} characters)" if len(text) > 4 else "'...'"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_token(value: str) -> bool:
    """A known token prefix, or a long high-entropy string with mixed case and digits.

    ``OPENAI_API_KEY`` or ``my_service_token_2`` are names; ``hf_AbC...`` or a 32-character
    random string are not, even though bash would accept them as names.
    """
    if any(value.startswith(p) and len(value) >= len(p) + 12 for p in TOKEN_PREFIXES):
        return True
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return len(value) >= 24 and classes == 3 and _entropy(value) > 3.5


def env_name_problem(value: object) -> str | None:
    """Why ``value`` cannot be the name of a variable holding a secret, or None if it can."""
    text = str(value)
    if looks_like_token(text) or (len(text) >= 24 and not ENV_NAME.fullmatch(text)):
        return f"looks like a secret's value, not a variable name (got {redact(text)})"
    if not ENV_NAME.fullmatch(text):
        shown = repr(text) if len(text) <= 40 and text.isprintable() else redact(text)
        return f"is not a variable name (got {shown}): letters, digits and '_', not first a digit"
    return None


def task_name_problem(value: object) -> str | None:
    """Why ``value`` cannot name a task folder, or None if it can."""
    text = str(value)
    if not TASK_NAME.fullmatch(text):
        shown = text.encode("unicode_escape").decode()[:60]
        return (
            f"task name {shown!r} may hold only letters, digits, '_', '.', '-' "
            "(and start with a letter or digit)"
        )
    if text.lower() in RESERVED:
        return f"task name {text!r} is a file or folder of the invocation itself: rename the task"
    return None


def task_folders(names: list[str]) -> list[str]:
    """Each task's folder: its name, or ``name.N`` when the name appears several times."""
    counts = Counter(names)
    seen: Counter[str] = Counter()
    folders = []
    for name in names:
        seen[name] += 1
        folders.append(f"{name}.{seen[name]}" if counts[name] > 1 else name)
    return folders


def folder_clash(names: list[str]) -> str | None:
    """Two tasks whose folders coincide (also ignoring case), or a reserved name; else None."""
    first: dict[str, str] = {}
    for name, folder in zip(names, task_folders(names), strict=True):
        if folder.lower() in RESERVED:
            return f"task {name!r} would use folder {folder!r}, a file of the invocation itself"
        if folder.lower() in first:
            return (
                f"tasks {first[folder.lower()]!r} and {name!r} would share the folder "
                f"{folder!r}: rename one"
            )
        first[folder.lower()] = name
    return None
