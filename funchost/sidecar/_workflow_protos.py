"""The durabletask protobuf modules the workflow engine speaks, without the Dapr workflow SDK.

They live in `dapr.ext.workflow._durabletask.internal`, and importing them runs the package
`dapr.ext.workflow`'s `__init__`: the SDK's whole client and worker (`dapr.clients`, aiohttp,
about 12 MB of a resting `funchost sidecar`), none of which the sidecar uses. So, when the SDK is
not loaded yet, `dapr.ext.workflow` is registered without running its `__init__`; the first
attribute read from it (an app in this process importing `WorkflowRuntime`, say) runs it then,
into the same module object, so the SDK behaves as if imported the usual way.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

_SDK = "dapr.ext.workflow"
_lock = threading.RLock()
_running: set[str] = set()


class _DeferredPackage(types.ModuleType):
    """A package whose `__init__` runs at the first read of a name it does not have yet
    (submodules imported meanwhile are set on it as usual)."""

    def __getattr__(self, name: str) -> Any:
        with _lock:
            if type(self) is _DeferredPackage and self.__name__ not in _running:
                _running.add(self.__name__)
                try:
                    spec = self.__spec__
                    assert spec is not None and spec.loader is not None
                    spec.loader.exec_module(self)
                finally:
                    _running.discard(self.__name__)
                self.__class__ = types.ModuleType  # type: ignore[assignment]  # loaded: plain
            elif self.__name__ in _running:  # a name read while `__init__` runs
                raise AttributeError(name)
        return object.__getattribute__(self, name)


def defer_sdk_init() -> None:
    """Register `dapr.ext.workflow` with its `__init__` deferred (see the module docstring)."""
    if _SDK in sys.modules:
        return
    spec = importlib.util.find_spec(_SDK)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    sys.modules[_SDK] = module
    parent, _, child = _SDK.rpartition(".")
    setattr(sys.modules[parent], child, module)


defer_sdk_init()

import dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc as pbg  # noqa: E402
import dapr.ext.workflow._durabletask.internal.protos as pb  # noqa: E402

__all__ = ["defer_sdk_init", "pb", "pbg"]
