"""Dapr's state query language: parse errors (pure) and results on a real PostgreSQL (table tests).

The PostgreSQL cases run `state.postgresql`'s backend directly against a throwaway cluster (the
`postgres_dsn` fixture); the values are the JSON documents daprd's own query tests use (people
with an id, a name, an org and a state).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from funchost.sidecar.component import Component
from funchost.sidecar.state.backend import StateItem
from funchost.sidecar.state.postgresql import PostgresStateBackend
from funchost.sidecar.state.postgresql_query import PgQuery, json_path
from funchost.sidecar.state.query import QueryError, parse_query

PEOPLE = {
    "1": {"person": {"org": "Dev Ops", "id": 1036}, "city": "Seattle", "state": "WA"},
    "2": {"person": {"org": "Hardware", "id": 1028}, "city": "Portland", "state": "OR"},
    "3": {"person": {"org": "Finance", "id": 1071}, "city": "Sacramento", "state": "CA"},
    "4": {"person": {"org": "Dev Ops", "id": 1042}, "city": "Spokane", "state": "WA"},
    "5": {"person": {"org": "Hardware", "id": 1007}, "city": "Los Angeles", "state": "CA"},
    "6": {"person": {"org": "Finance", "id": 1094}, "city": "Eugene", "state": "OR"},
    "7": {"person": {"org": "Dev Ops", "id": 1015}, "city": "San Francisco", "state": "CA"},
    "8": {"person": {"org": "Hardware", "id": 1077}, "city": "Redmond", "state": "WA"},
    "9": {"person": {"org": "Finance", "id": 1002}, "city": "San Diego", "state": "CA"},
}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("{not json", "invalid character"),
        ("", "unexpected end of JSON input"),
        ("[]", "cannot unmarshal array"),
        ('{"filter": []}', "filter unit must be a map"),
        (
            '{"filter": {"EQ": {"a": 1}, "IN": {"b": [1]}}}',
            "filter unit must have a single element",
        ),
        ('{"filter": {"NE": {"a": 1}}}', 'unsupported filter "NE"'),
        ('{"filter": {"EQ": 1}}', "EQ filter must be a map"),
        ('{"filter": {"GT": {"a": 1, "b": 2}}}', "GT filter must contain a single key/value pair"),
        ('{"filter": {"IN": {"a": 1}}}', "IN filter value must be an array"),
        ('{"filter": {"AND": {"EQ": {"a": 1}}}}', "AND filter must be an array"),
        ('{"filter": {"OR": [{"EQ": {"a": 1}}]}}', "OR filter must contain at least two entries"),
        ('{"sort": {"key": "a"}}', '"sort" must be an array'),
        ('{"page": [1]}', '"page" must be a map'),
        ('{"page": {"limit": "2"}}', "Pagination.limit of type int"),
    ],
)
def test_malformed_queries_fail_as_in_daprd(query, error):
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("query", "sql", "params"),
    [
        ("{}", "SELECT key, value::text, xmin::text AS etag FROM state", []),
        (
            '{"filter": {"EQ": {"person.org": "Dev Ops"}}}',
            "... WHERE value->'person'->>'org'=%s",
            ["Dev Ops"],
        ),
        (
            '{"filter": {"AND": [{"GTE": {"a": 1000000}}, {"IN": {"b": [true, null]}}]}}',
            "... WHERE (value->>'a'>=%s AND (value->>'b'=%s OR value->>'b'=%s))",
            ["1e+06", "true", "<nil>"],
        ),
        (
            '{"sort": [{"key": "a.b", "order": "DESC"}, {"key": "c"}], "page": {"limit": 2, '
            '"token": "4"}}',
            "... ORDER BY value->'a'->>'b' DESC, value->>'c' LIMIT 2 OFFSET 4",
            [],
        ),
    ],
)
def test_sql_as_components_contrib_builds_it(query, sql, params):
    built = PgQuery(parse_query(query), "state")
    prefix = "SELECT key, value::text, xmin::text AS etag FROM state"
    assert built.sql == sql.replace("...", prefix)
    assert built.params == params


def test_json_path_escapes_quotes():
    assert json_path("it's.100%") == "value->'it''s'->>'100%%'"


# -- against PostgreSQL ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def people_store(
    postgres_dsn: str,
) -> Iterator[tuple[PostgresStateBackend, asyncio.AbstractEventLoop]]:
    table = "q_" + uuid.uuid4().hex[:8]
    comp = Component(
        "people",
        "state.postgresql",
        metadata={"connectionString": postgres_dsn, "tableName": table},
    )
    backend = PostgresStateBackend(comp, "queryapp")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.open())
    items = [StateItem(k, json.dumps(v).encode(), is_json=True) for k, v in PEOPLE.items()]
    items.append(StateItem("bin", b"\x00\x01", is_json=False))  # binary: never matches
    loop.run_until_complete(backend.set_many(items))
    yield backend, loop
    loop.run_until_complete(backend.close())
    loop.close()


def _run(store: tuple[PostgresStateBackend, asyncio.AbstractEventLoop], query: str) -> Any:
    backend, loop = store
    return loop.run_until_complete(backend.query(parse_query(query), {}))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ('{"filter": {"EQ": {"state": "CA"}}}', {"3", "5", "7", "9"}),
        ('{"filter": {"EQ": {"person.org": "Dev Ops"}}}', {"1", "4", "7"}),
        ('{"filter": {"NEQ": {"state": "CA"}}}', {"1", "2", "4", "6", "8"}),
        ('{"filter": {"IN": {"state": ["OR", "WA"]}}}', {"1", "2", "4", "6", "8"}),
        ('{"filter": {"EQ": {"person.id": 1036}}}', {"1"}),
        # values compare as text (components-contrib binds Go's %v as a text parameter)
        ('{"filter": {"GT": {"person.id": 1070}}}', {"3", "8", "6"}),
        ('{"filter": {"GTE": {"person.id": 1071}}}', {"3", "8", "6"}),
        ('{"filter": {"LT": {"person.id": 1010}}}', {"5", "9"}),
        ('{"filter": {"LTE": {"person.id": 1007}}}', {"5", "9"}),
        (
            '{"filter": {"AND": [{"EQ": {"person.org": "Finance"}}, '
            '{"IN": {"state": ["CA", "WA"]}}]}}',
            {"3", "9"},
        ),
        (
            '{"filter": {"OR": [{"EQ": {"person.org": "Hardware"}}, '
            '{"AND": [{"EQ": {"person.org": "Dev Ops"}}, {"EQ": {"state": "CA"}}]}]}}',
            {"2", "5", "8", "7"},
        ),
        ('{"filter": {"EQ": {"missing.field": "x"}}}', set()),
    ],
)
def test_filters(people_store, query, keys):
    result = _run(people_store, query)
    assert {r.key for r in result.results} == keys
    assert result.token == ""
    for r in result.results:
        assert json.loads(r.data) == PEOPLE[r.key] and int(r.etag) > 0


@pytest.mark.postgres
def test_sort_and_pages(people_store):
    q = {
        "filter": {"EQ": {"state": "CA"}},
        "sort": [{"key": "person.id", "order": "DESC"}],
        "page": {"limit": 3},
    }
    first = _run(people_store, json.dumps(q))
    assert [r.key for r in first.results] == ["3", "7", "5"] and first.token == "3"
    q["page"] = {"limit": 3, "token": first.token}
    second = _run(people_store, json.dumps(q))
    assert [r.key for r in second.results] == ["9"] and second.token == "4"
    asc = _run(people_store, '{"sort": [{"key": "city"}], "page": {"limit": 2}}')
    assert [r.key for r in asc.results] == ["6", "5"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "error"),
    [
        ('{"filter": {"GT": {"person.id": "1000"}}}', "string type not permitted"),
        ('{"filter": {"IN": {"state": []}}}', 'empty IN operator for key "state"'),
        ('{"page": {"limit": 2, "token": "abc"}}', 'parsing "abc": invalid syntax'),
    ],
)
def test_refused_queries(people_store, query, error):
    with pytest.raises(QueryError) as info:
        _run(people_store, query)
    assert error in str(info.value)
