"""Fixtures shared by every test area.

Suite-wide: every process a test starts (`funchost run`, `funchost sidecar`...) registers its
app id in this session's own name registry, never the user's, so tests never collide with an
app the developer is running (`funchost run functions/`) nor with another test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL DSN: FUNCHOST_TEST_POSTGRES_DSN, or a throwaway cluster (skips without)."""
    from tests._postgres import postgres_dsn as start

    yield from start()


@pytest.fixture(autouse=True, scope="session")
def _private_name_registry() -> Iterator[None]:
    previous = os.environ.get("FUNCHOST_REGISTRY_DIR")
    with tempfile.TemporaryDirectory(prefix="funchost-registry-") as folder:
        os.environ["FUNCHOST_REGISTRY_DIR"] = folder
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("FUNCHOST_REGISTRY_DIR", None)
            else:
                os.environ["FUNCHOST_REGISTRY_DIR"] = previous
