"""A parsed state query (query.py) as `state.postgresql` v1 SQL, as components-contrib builds it.

`SELECT key, value, xmin AS etag FROM <table> [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET t]`:
a dotted key `a.b` reads `value->'a'->>'b'`; every compared value is bound as the text of Go's
`%v` (so comparisons are on text, as in daprd); GT/GTE/LT/LTE refuse string values; the next
page token is the offset plus the rows returned, given only when a limit is set.
"""

from __future__ import annotations

from .query import Compare, Filter, In, Logical, Query, QueryError, go_value

_SQL_OPS = {"EQ": "=", "NEQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}


def json_path(key: str) -> str:
    """`a.b.c` -> `value->'a'->'b'->>'c'` (quotes and % escaped for a psycopg query)."""
    parts = [p.replace("'", "''").replace("%", "%%") for p in key.split(".")]
    out = "value"
    for i, part in enumerate(parts):
        out += ("->>" if i == len(parts) - 1 else "->") + f"'{part}'"
    return out


class PgQuery:
    """One query's SQL text and its parameters (psycopg `%s` placeholders)."""

    def __init__(self, query: Query, table: str) -> None:
        self.params: list[str] = []
        self.limit = query.limit
        self.skip = 0
        sql = f"SELECT key, value::text, xmin::text AS etag FROM {table}"
        if query.filter is not None:
            sql += " WHERE " + self._filter(query.filter)
        if query.sort:
            orders = []
            for s in query.sort:
                order = s.order.upper()
                if order not in ("", "ASC", "DESC"):
                    raise QueryError(f'sort order "{s.order}" of key "{s.key}": use ASC or DESC')
                orders.append(json_path(s.key) + (f" {order}" if order else ""))
            sql += " ORDER BY " + ", ".join(orders)
        if query.limit > 0:
            sql += f" LIMIT {query.limit}"
        if query.token:
            try:
                self.skip = int(query.token, 10)
            except ValueError:
                raise QueryError(
                    f'strconv.ParseInt: parsing "{query.token}": invalid syntax'
                ) from None
            sql += f" OFFSET {self.skip}"
        self.sql = sql

    def _bind(self, path: str, op: str, value: object) -> str:
        self.params.append(go_value(value))
        return f"{path}{op}%s"

    def _filter(self, node: Filter) -> str:
        if isinstance(node, Compare):
            if node.op in ("GT", "GTE", "LT", "LTE") and isinstance(node.value, str):
                raise QueryError(
                    f"unsupported type of value {node.value}; string type not permitted"
                )
            return self._bind(json_path(node.key), _SQL_OPS[node.op], node.value)
        if isinstance(node, In):
            if not node.values:
                raise QueryError(f'empty IN operator for key "{node.key}"')
            path = json_path(node.key)
            return "(" + " OR ".join(self._bind(path, "=", v) for v in node.values) + ")"
        if isinstance(node, Logical):
            return "(" + f" {node.op} ".join(self._filter(f) for f in node.filters) + ")"
        raise QueryError(f"unsupported filter type {node!r}")

    def token(self, returned: int) -> str:
        """The next page's token ("" when no limit was given)."""
        return str(self.skip + returned) if self.limit else ""
