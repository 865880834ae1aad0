"""pytest plugin: drive a folder of functions end to end on the embedded sidecar.

```python
import pytest
from datetime import timedelta

@pytest.mark.funchost(path="functions")
async def test_order_is_stored(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "o1"})
    await funchost_runtime.idle()
    assert await funchost_runtime.state().get("order-o1") == {"id": "o1"}
```

The `funchost_runtime` fixture is a started `LocalRuntime` with a fresh SQLite database per test
and a virtual clock. Configure it with `@pytest.mark.funchost(path=..., resources=[...],
app_id=..., clock=..., mode=...)` or the ini options `funchost_functions`, `funchost_resources`,
`funchost_mode`; `--funchost-sidecar=daprd` runs the same tests against a real `daprd`.

Importing this module is cheap and has no side effects (pytest loads it in every run): the
runtime, the sidecar and the host are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The pytest11 entry point names this package: the plugin's hooks and fixture live here.
from funchost.testing.plugin import (
    funchost_runtime,
    pytest_addoption,
    pytest_configure,
    pytest_pycollect_makeitem,
    pytest_runtest_call,
)

if TYPE_CHECKING:
    from funchost.testing.access import WorkflowTimeout
    from funchost.testing.base import NeedsEmbeddedSidecar, NeedsVirtualClock, UnsupportedHere
    from funchost.testing.inspection import BindingReply
    from funchost.testing.runtime import LocalRuntime

__all__ = [
    "BindingReply",
    "LocalRuntime",
    "NeedsEmbeddedSidecar",
    "NeedsVirtualClock",
    "UnsupportedHere",
    "WorkflowTimeout",
    "funchost_runtime",
    "pytest_addoption",
    "pytest_configure",
    "pytest_pycollect_makeitem",
    "pytest_runtest_call",
]

_LAZY = {
    "LocalRuntime": "funchost.testing.runtime",
    "NeedsVirtualClock": "funchost.testing.base",
    "NeedsEmbeddedSidecar": "funchost.testing.base",
    "UnsupportedHere": "funchost.testing.base",
    "BindingReply": "funchost.testing.inspection",
    "WorkflowTimeout": "funchost.testing.access",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funchost.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
