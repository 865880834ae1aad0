"""Discovery: import a folder of functions plus the installed ``funchost`` plugins."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pluggy

from funchost._where import error_location
from funchost.errors import DiscoveryError, FunchostError
from funchost.plugins import get_plugin_manager, load_entry_point_plugins, selected_plugin_names
from funchost.registry import Registry

__all__ = ["discover", "import_folder"]

_SKIP_DIRS = {"__pycache__", "tests", "test", "node_modules"}
#: module name -> file, for modules imported by discovery (so a later discover may reload).
_IMPORTED: dict[str, str] = {}


def _skip(path: Path) -> bool:
    name = path.name
    return (
        name.startswith((".", "test_"))
        or name in ("conftest.py", "setup.py")
        or name.endswith("_test.py")
    )


def _module_names(folder: Path) -> list[tuple[str, Path, Path]]:
    """(module name, file, sys.path root) for every module to import under ``folder``."""
    if (folder / "__init__.py").exists():
        root = folder.parent
        base = folder.name
        out = [(base, folder / "__init__.py", root)]
        for file in sorted(folder.rglob("*.py")):
            rel = file.relative_to(folder)
            if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]) or _skip(file):
                continue
            if file.name == "__init__.py":
                if rel.parent == Path("."):
                    continue
                parts = rel.parent.parts
            else:
                parts = (*rel.parent.parts, file.stem)
            if any(
                not (folder / Path(*parts[:i])).joinpath("__init__.py").exists()
                for i in range(1, len(parts))
            ):
                continue
            out.append((".".join((base, *parts)), file, root))
        return out
    out = []
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix == ".py" and not _skip(file):
            out.append((file.stem, file, folder))
        elif file.is_dir() and (file / "__init__.py").exists() and file.name not in _SKIP_DIRS:
            out.extend(_module_names(file))
    return out


def _import(name: str, file: Path, root: Path) -> types.ModuleType:
    existing = sys.modules.get(name)
    if existing is not None:
        current = getattr(existing, "__file__", None)
        if current and Path(current).resolve() == file.resolve():
            return existing
        if name in _IMPORTED or name.split(".")[0] in _IMPORTED:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                sys.modules.pop(key, None)
        else:
            raise DiscoveryError(
                f"module name '{name}' is already taken by {current or 'a built-in module'}: "
                "rename the file",
                str(file),
                1,
            )
    # the folder goes first, so its modules win over same-named ones of other folders
    if sys.path[:1] != [str(root)]:
        while str(root) in sys.path:
            sys.path.remove(str(root))
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except FunchostError as exc:
        file_, line = error_location(exc, None)
        raise DiscoveryError(getattr(exc, "reason", str(exc)), file_ or str(file), line) from exc
    except Exception as exc:
        file_, line = error_location(exc, root)
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise DiscoveryError(
            f"cannot import module '{name}': {type(exc).__name__}: {detail}",
            file_ or str(file),
            line,
        ) from exc
    _IMPORTED[name] = str(file)
    return module


def import_folder(path: str | Path) -> list[types.ModuleType]:
    """Import every module of a folder (package or plain folder) or a single ``.py`` file."""
    target = Path(path)
    if not target.exists():
        raise DiscoveryError(f"'{path}' does not exist: pass a folder of functions or a .py file")
    target = target.resolve()
    if target.is_file():
        if target.suffix != ".py":
            raise DiscoveryError(f"'{path}' is not a Python file or a folder")
        if (target.parent / "__init__.py").exists():
            entries = [e for e in _module_names(target.parent) if e[1].resolve() == target] or [
                (target.stem, target, target.parent)
            ]
        else:
            entries = [(target.stem, target, target.parent)]
    else:
        entries = _module_names(target)
    return [_import(name, file, root) for name, file, root in entries]


def discover(
    path: str | Path | Iterable[str | Path] | None = None,
    *,
    plugins: bool = True,
    settings: Any = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Registry:
    """Build a validated `Registry` from a functions folder (or file) and the plugins.

    ``path`` may be None (plugins only) or several folders. Installed plugins of the
    entry-point group ``funchost`` are loaded unless ``plugins=False``; ``FUNCHOST_PLUGINS``
    limits which. Errors raise `DiscoveryError` / `RegistryError` naming file and line.
    """
    if settings is None:
        from funchost.settings import Settings

        settings = Settings()
    pm = plugin_manager or get_plugin_manager(entry_points=False)
    registry = Registry()
    registry.plugin_manager = pm
    paths = [] if path is None else [path] if isinstance(path, str | Path) else list(path)
    for folder in paths:
        for module in import_folder(folder):
            registry.add_module(module)
        registry.sources.append(str(folder))
    if plugins:
        only = selected_plugin_names(getattr(settings, "plugins", None))
        for plugin in load_entry_point_plugins(pm, only):
            if isinstance(plugin, types.ModuleType):
                registry.add_module(plugin)
    for contributed in pm.hook.funchost_add_functions(settings=settings):
        if contributed is None:
            continue
        try:
            registry.add(
                list(contributed) if not isinstance(contributed, types.ModuleType) else contributed
            )
        except FunchostError as exc:
            raise DiscoveryError(f"a plugin contributed an invalid object: {exc}") from exc
    return registry.validate()
