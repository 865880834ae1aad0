"""Dapr's state query language (components-contrib `state/query`): parsing, as daprd does.

A query is `{"filter": {...}, "sort": [...], "page": {...}}`. Filter nodes are single-key maps:
`EQ`, `NEQ`, `GT`, `GTE`, `LT`, `LTE` (`{"OP": {"dotted.key": value}}`), `IN`
(`{"IN": {"key": [values]}}`), `AND` / `OR` (an array of at least two nodes). `parse_query`
raises `QueryError` with components-contrib's messages; a backend turns the parsed `Query` into
its own language (postgresql_query.py for `state.postgresql`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: comparison operators with one key/value pair
COMPARISONS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE")


class QueryError(ValueError):
    """A query daprd would refuse (malformed JSON or filter); the message is daprd's."""


@dataclass(frozen=True)
class Compare:
    """`{"<op>": {"<key>": <value>}}` (op in COMPARISONS)."""

    op: str
    key: str
    value: Any


@dataclass(frozen=True)
class In:
    """`{"IN": {"<key>": [values]}}`."""

    key: str
    values: list[Any]


@dataclass(frozen=True)
class Logical:
    """`{"AND"|"OR": [node, node, ...]}`."""

    op: str
    filters: list[Filter]


Filter = Compare | In | Logical


@dataclass(frozen=True)
class Sorting:
    """One `sort` entry: a dotted key and `ASC`/`DESC` (empty = the database's default)."""

    key: str
    order: str = ""


@dataclass
class Query:
    """A parsed query."""

    filter: Filter | None = None
    sort: list[Sorting] = field(default_factory=list)
    limit: int = 0
    token: str = ""


def _filter(obj: Any) -> Filter:
    if not isinstance(obj, dict):
        raise QueryError("filter unit must be a map")
    if len(obj) != 1:
        raise QueryError("filter unit must have a single element")
    ((op, arg),) = obj.items()
    if op in COMPARISONS or op == "IN":
        if not isinstance(arg, dict):
            raise QueryError(f"{op} filter must be a map")
        if len(arg) != 1:
            raise QueryError(f"{op} filter must contain a single key/value pair")
        ((key, value),) = arg.items()
        if op == "IN":
            if not isinstance(value, list):
                raise QueryError("IN filter value must be an array")
            return In(key, value)
        return Compare(op, key, value)
    if op in ("AND", "OR"):
        if not isinstance(arg, list):
            raise QueryError(f"{op} filter must be an array")
        if len(arg) < 2:
            raise QueryError(f"{op} filter must contain at least two entries")
        return Logical(op, [_filter(entry) for entry in arg])
    raise QueryError(f"unsupported filter {json.dumps(op)}")


def _go_type(value: Any) -> str:
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )


def parse_query(text: str | bytes) -> Query:
    """Parse a query as components-contrib's `Query.UnmarshalJSON` does (QueryError if not)."""
    if not text.strip():
        raise QueryError("unexpected end of JSON input")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise QueryError(f"invalid character in JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise QueryError(f"json: cannot unmarshal {_go_type(doc)} into Go value of type map")
    query = Query()
    if "filter" in doc:
        query.filter = _filter(doc["filter"])
    if "sort" in doc:
        if not isinstance(doc["sort"], list):
            raise QueryError('"sort" must be an array')
        for entry in doc["sort"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("key", ""), str):
                raise QueryError("json: cannot unmarshal sort entry into Go value of type Sorting")
            order = entry.get("order") or ""
            if not isinstance(order, str):
                raise QueryError("json: cannot unmarshal order into Go value of type string")
            query.sort.append(Sorting(entry.get("key", ""), order))
    if "page" in doc:
        page = doc["page"]
        if not isinstance(page, dict):
            raise QueryError('"page" must be a map')
        limit = page.get("limit", 0)
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit != int(limit):
            raise QueryError(
                "json: cannot unmarshal limit into Go struct field Pagination.limit of type int"
            )
        token = page.get("token", "")
        if not isinstance(token, str):
            raise QueryError(
                "json: cannot unmarshal token into Go struct field Pagination.token of type string"
            )
        query.limit, query.token = int(limit), token
    return query


def go_value(value: Any) -> str:
    """`fmt.Sprintf("%v", v)` of a JSON value as Go decodes it (numbers are float64)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_float(f: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form when exp < -4 or exp >= 6 (1e+06)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exp)  # decimal point position after the first `point` digits
    x = point - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{text}"
    if point >= len(text):
        return neg + text + "0" * (point - len(text))
    return f"{neg}{text[:point]}.{text[point:]}"
