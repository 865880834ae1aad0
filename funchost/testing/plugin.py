"""The pytest plugin of `funchost.testing`: options, the `funchost` marker, `funchost_runtime`.

Importing it is cheap (pytest loads it in every run): the runtime, the sidecar and the host are
imported lazily, inside the fixture.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from funchost.testing.runtime import LocalRuntime

__all__ = [
    "funchost_runtime",
    "pytest_addoption",
    "pytest_configure",
    "pytest_pycollect_makeitem",
    "pytest_runtest_call",
]


# -- options and marker ---------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("funchost", "funchost local runtime")
    group.addoption(
        "--funchost-sidecar",
        action="store",
        default=None,
        choices=("embedded", "daprd"),
        help="sidecar for funchost_runtime: the embedded one (default) or a real daprd on PATH "
        "(env FUNCHOST_TEST_SIDECAR)",
    )
    parser.addini(
        "funchost_functions", "functions folder for funchost_runtime (default: functions)"
    )
    parser.addini("funchost_resources", "resources folders for funchost_runtime", "args")
    parser.addini("funchost_mode", "inprocess (default) or subprocess")
    parser.addini("funchost_sidecar", "embedded (default) or daprd")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "funchost(path='functions', resources=None, app_id='app', clock='virtual', "
        "mode='inprocess'): configure the funchost_runtime fixture",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: Any) -> None:
    """Mark async tests that use `funchost_runtime` for pytest-asyncio (strict mode too)."""
    import inspect

    if not inspect.iscoroutinefunction(obj) or not collector.funcnamefilter(name):
        return
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    marks = [m.name for m in getattr(obj, "pytestmark", [])]
    if "funchost_runtime" in params and "asyncio" not in marks:
        pytest.mark.asyncio(obj)


def _sidecar_kind(config: pytest.Config) -> str:
    kind = (
        config.getoption("--funchost-sidecar", default=None)
        or os.environ.get("FUNCHOST_TEST_SIDECAR")
        or config.getini("funchost_sidecar")
        or "embedded"
    )
    if kind not in ("embedded", "daprd"):
        raise pytest.UsageError(f"--funchost-sidecar={kind!r}: use 'embedded' or 'daprd'")
    return str(kind)


def _resolve(value: str | Path, *bases: Path) -> Path:
    path = Path(value)
    if path.is_absolute():
        return path
    for base in bases:
        if (base / path).exists():
            return base / path
    return bases[0] / path


def runtime_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """LocalRuntime keyword arguments from the marker (closest wins), ini options and CLI."""
    config = request.config
    ini_base = config.inipath.parent if config.inipath else config.rootpath
    test_dir = Path(str(request.node.path)).parent
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("funchost")
    if marker is not None:
        if marker.args:
            options["path"] = marker.args[0]
        options.update(marker.kwargs)
    path = options.pop("path", None)
    if options.get("app") is not None:
        functions = None
    elif path is not None:
        functions = _resolve(path, test_dir, ini_base)
    else:
        functions = _resolve(config.getini("funchost_functions") or "functions", ini_base, test_dir)
    resources = options.pop("resources", None)
    if resources is not None:
        options["resources"] = [_resolve(r, test_dir, ini_base) for r in resources]
    elif config.getini("funchost_resources"):
        options["resources"] = [_resolve(r, ini_base) for r in config.getini("funchost_resources")]
    options.setdefault("mode", config.getini("funchost_mode") or "inprocess")
    options.setdefault("sidecar", _sidecar_kind(config))
    if functions is not None:
        options["functions_path"] = functions
    return options


def _skip_without_daprd(options: dict[str, Any]) -> None:
    if options.get("sidecar") == "daprd" and shutil.which("daprd") is None:
        pytest.skip(
            "--funchost-sidecar=daprd: no `daprd` executable on PATH (install the Dapr CLI "
            "and run `dapr init`, or put daprd on PATH)"
        )


# -- the fixture ----------------------------------------------------------------------------


async def _runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    from funchost.testing.runtime import LocalRuntime

    options = runtime_options(request)
    _skip_without_daprd(options)
    options.setdefault("db_path", tmp_path / "funchost.db")
    runtime = LocalRuntime(**options)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A test using a helper its sidecar cannot serve (advance() under daprd) is skipped."""
    outcome = yield
    excinfo = outcome.excinfo
    runtime_module = sys.modules.get("funchost.testing.base")
    if excinfo is None or runtime_module is None:
        return
    if isinstance(excinfo[1], runtime_module.UnsupportedHere):
        outcome.force_exception(pytest.skip.Exception(str(excinfo[1]), _use_item_location=True))


try:
    import pytest_asyncio

    funchost_runtime = pytest_asyncio.fixture(_runtime, name="funchost_runtime")
except ImportError:  # pragma: no cover - pytest-asyncio is part of funchost[test]

    @pytest.fixture(name="funchost_runtime")
    def funchost_runtime() -> None:
        pytest.fail("the funchost_runtime fixture needs pytest-asyncio: pip install pytest-asyncio")
