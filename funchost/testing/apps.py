"""Where a runtime's app comes from: a functions folder or an ASGI app "module:attribute"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["default_resources", "functions_app_factory", "load_app"]


def default_resources(functions_path: Path) -> list[Path]:
    """`components/` and `bindings/` next to the functions folder, as `funchost run` uses."""
    base = functions_path.parent
    return [p for p in (base / "components", base / "bindings") if p.is_dir()]


def functions_app_factory(functions_path: Path) -> Callable[[], Any]:
    """A factory building the host's FastAPI app for a functions folder."""

    def factory() -> Any:
        from funchost import create_app, discover

        return create_app(discover(functions_path))

    return factory


def load_app(ref: str) -> Any:
    """Import an ASGI app from "module:attribute" (a zero-argument factory is called)."""
    import importlib

    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f"app={ref!r}: expected 'module:attribute'")
    obj = getattr(importlib.import_module(module_name), attr)
    if callable(obj) and not hasattr(obj, "router") and _takes_no_arguments(obj):
        obj = obj()
    return obj


def _takes_no_arguments(fn: Any) -> bool:
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty for p in sig.parameters.values())
