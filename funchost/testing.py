"""pytest plugin: drive a folder of functions end to end on the embedded sidecar.

Importing this module is cheap and has no side effects (pytest loads it in every run): the
runtime, the sidecar and the host are imported lazily inside the fixture.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("funchost", "funchost local runtime")
    group.addoption(
        "--funchost-sidecar",
        action="store",
        default=None,
        choices=("embedded", "daprd"),
        help="sidecar for funchost_runtime: the embedded one (default) or a real daprd on PATH",
    )
    parser.addini("funchost_functions", "default functions folder for funchost_runtime")
    parser.addini("funchost_resources", "default resources folders for funchost_runtime", "args")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "funchost(path='functions', resources=None, **options): configure funchost_runtime",
    )
