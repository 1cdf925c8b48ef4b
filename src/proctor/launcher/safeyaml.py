"""YAML read as a reviewer reads it: no duplicate keys, no alias bombs, UTF-8 or a clear no.

``yaml.safe_load`` keeps the *last* of two equal keys (so the value used is not the one a
reviewer sees first) and expands aliases lazily, so that nine nested ``*a`` lines turn
into a billion nodes the moment pydantic or json.dumps walks them. Here a duplicate key
is refused with its line, and a document whose aliases expand past MAX_NODES is refused
before anything walks it. Errors are ValueError with one line; callers add the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_NODES = 100_000  # a big config has a few hundred


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" is meant to be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not None:
                raise ValueError(
                    f"duplicate key {str(key)[:60]!r} on line {key_node.start_mark.line + 1} "
                    f"(first on line {first}): keep one"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document has once every alias is expanded (memoised per shared node)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_NODES + 1  # a cycle counts as too big
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
                if total > MAX_NODES:
                    break
        sizes[id(node)] = total
        return total

    return size(root)


def loads(text: str) -> Any:
    """Parse one YAML document; ValueError or yaml.YAMLError (with its mark) when refused."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise ValueError(
                f"the document expands to more than {MAX_NODES} nodes through aliases "
                "(an alias bomb?): write the values out"
            )
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """A file's text; ValueError naming the problem when unreadable or not UTF-8."""
    if path.exists() and not path.is_file():
        raise ValueError("is a directory, not a file" if path.is_dir() else "is not a regular file")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"is not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})"
        ) from None
    except OSError as e:
        raise ValueError(f"cannot be read: {e.strerror or e}") from None
