"""The sidecar's modules import each other without loops (TYPE_CHECKING imports included), and a
new state store or broker stays one module plus one registry line (read from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

SIDECAR = Path(__file__).resolve().parents[2] / "funchost" / "sidecar"


def _modules() -> dict[str, tuple[Path, bool]]:
    mods: dict[str, tuple[Path, bool]] = {}
    for path in SIDECAR.rglob("*.py"):
        parts = ["funchost", *path.relative_to(SIDECAR.parent).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _absolute(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _graph() -> dict[str, set[str]]:
    """module -> sidecar modules whose import it runs (parent packages included)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, (path, is_pkg) in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_pkg, node)
                targets = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                chain = target.split(".")
                for k in range(1, len(chain) + 1):
                    dep = ".".join(chain[:k])
                    if dep in mods and dep != module and not module.startswith(dep + "."):
                        graph[module].add(dep)
    return graph


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in graph[node]:
            if dep == start:
                return [*path, start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return None


def test_no_import_loops_inside_the_sidecar() -> None:
    graph = _graph()
    assert "funchost.sidecar.server" in graph
    loops = [c for m in sorted(graph) if (c := _cycle_from(graph, m)) is not None]
    assert not loops, "import loop: " + " -> ".join(loops[0])


def test_backends_are_registered_by_component_type() -> None:
    from funchost.sidecar.components import SUPPORTED_TYPES
    from funchost.sidecar.pubsub import BROKERS
    from funchost.sidecar.state import STATE_BACKENDS

    assert {"state.sqlite", "state.in-memory", "state.redis"} <= set(STATE_BACKENDS)
    assert {"pubsub.in-memory", "pubsub.redis"} <= set(BROKERS)
    assert set(STATE_BACKENDS) | set(BROKERS) <= SUPPORTED_TYPES
    from funchost.sidecar.configuration.registry import CONFIGURATION_STORES
    from funchost.sidecar.lock.registry import LOCK_STORES

    assert {"configuration.sqlite", "configuration.redis", "configuration.postgresql"} <= set(
        CONFIGURATION_STORES
    )
    assert {"lock.sqlite", "lock.redis"} <= set(LOCK_STORES)
    assert set(CONFIGURATION_STORES) | set(LOCK_STORES) <= SUPPORTED_TYPES
