"""The durabletask protobuf modules the workflow engine speaks, without the Dapr workflow SDK.

They live in `dapr.ext.workflow._durabletask.internal`, and importing them runs the package
`dapr.ext.workflow`'s `__init__`: the SDK's whole client and worker (`dapr.clients`, aiohttp,
about 12 MB of a resting `funchost sidecar`), none of which the sidecar uses. So, when the SDK is
not loaded yet, `dapr.ext.workflow` is registered without running its `__init__`; the first
attribute read from it (an app in this process importing `WorkflowRuntime`, say) runs it then,
into the same module object, so the SDK behaves as if imported the usual way.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
import types
from typing import Any

_SDK = "dapr.ext.workflow"
_lock = threading.RLock()
_running: set[str] = set()


class _DeferredPackage(types.ModuleType):
    """A package whose `__init__` runs at the first read of a name it does not have yet, or
    before any of its submodules other than the protos is imported (`_InitFirst`)."""

    def __getattr__(self, name: str) -> Any:
        if self.__name__ in _running:  # a name read while `__init__` runs
            raise AttributeError(name)
        _load(self)
        return object.__getattribute__(self, name)


def _load(module: types.ModuleType) -> None:
    """Run the deferred package's `__init__` into `module` (once; then it is a plain module)."""
    with _lock:
        if type(module) is not _DeferredPackage or module.__name__ in _running:
            return
        _running.add(module.__name__)
        try:
            spec = module.__spec__
            assert spec is not None and spec.loader is not None
            spec.loader.exec_module(module)
        finally:
            _running.discard(module.__name__)
        module.__class__ = types.ModuleType  # type: ignore[assignment]  # loaded: plain
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _InitFirst)]


def _protos_only(fullname: str) -> bool:
    """The submodules the sidecar loads without the SDK (they import nothing else of it)."""
    internal = f"{_SDK}._durabletask.internal"
    if fullname in (f"{_SDK}._durabletask", internal, f"{internal}.protos"):
        return True
    return fullname.startswith(f"{internal}.") and fullname.endswith(("_pb2", "_pb2_grpc"))


class _InitFirst(importlib.abc.MetaPathFinder):
    """Runs the deferred `__init__` before any other submodule is imported, as a plain import
    of that submodule would (the SDK's modules import each other in that order)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.startswith(f"{_SDK}.") and not _protos_only(fullname):
            module = sys.modules.get(_SDK)
            if type(module) is _DeferredPackage:
                _load(module)
        return None  # found by the usual finders


def defer_sdk_init() -> None:
    """Register `dapr.ext.workflow` with its `__init__` deferred (see the module docstring)."""
    if _SDK in sys.modules:
        return
    spec = importlib.util.find_spec(_SDK)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    sys.meta_path.insert(0, _InitFirst())
    sys.modules[_SDK] = module
    parent, _, child = _SDK.rpartition(".")
    setattr(sys.modules[parent], child, module)


defer_sdk_init()

import dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc as pbg  # noqa: E402
import dapr.ext.workflow._durabletask.internal.protos as pb  # noqa: E402

__all__ = ["defer_sdk_init", "pb", "pbg"]
