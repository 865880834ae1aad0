"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL DSN: FUNCHOST_TEST_POSTGRES_DSN, or a throwaway cluster (skips without)."""
    from tests._postgres import postgres_dsn as start

    yield from start()
