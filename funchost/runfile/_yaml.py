"""YAML to plain Python values plus the line of every mapping key and sequence item."""

from __future__ import annotations

from typing import Any

import yaml

#: path of keys/indexes (as in pydantic's error `loc`) -> 1-based line
Lines = dict[tuple[str | int, ...], int]


def load_with_lines(text: str, source: str) -> tuple[Any, Lines]:
    """Parse one YAML document; raise ValueError naming `source` and the line when malformed."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{where}: not valid YAML: {problem}") from None
    lines: Lines = {}
    if node is None:
        return None, lines
    return _value(node, (), lines), lines


def _value(node: yaml.Node, path: tuple[str | int, ...], lines: Lines) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(b"").construct_object(key_node)  # type: ignore[no-untyped-call]
            sub = (*path, key if isinstance(key, str | int) else str(key))
            lines[sub] = key_node.start_mark.line + 1
            out[key] = _value(value_node, sub, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            sub = (*path, index)
            lines[sub] = item.start_mark.line + 1
            items.append(_value(item, sub, lines))
        return items
    loader = yaml.SafeLoader(b"")
    return loader.construct_object(node, deep=True)  # type: ignore[no-untyped-call]
