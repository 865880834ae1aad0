"""The layering rules of DESIGN.md (docs/architecture.md), enforced by reading imports (ast).

- the sidecar (`funchost.sidecar`) never imports the host (anything of `funchost` outside it);
- `functions/` never imports `funchost.sidecar`;
- the host imports the sidecar only from the commands that start it (`funchost.commands.run`,
  `funchost.commands.sidecar`) and from `funchost.testing`;
- no import cycle among funchost modules (imports at module level, outside TYPE_CHECKING).

Every import counts for the first three rules, also one inside a function; the cycle check reads
only what runs when a module is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDECAR = "funchost.sidecar"
#: The host modules allowed to import the sidecar (they start it).
STARTS_THE_SIDECAR = ("funchost.commands.run", "funchost.commands.sidecar", "funchost.testing")
#: the local name registry is this machine's mDNS: a file format both sides read (the dashboard
#: lists the running apps through it); the kept-alive HTTP/1.1 connection serves both hot paths
#: (the sidecar's deliveries to the app, the app's actor state saves to the sidecar); each imports
#: nothing else of funchost (checked below)
SHARED_WITH_THE_HOST = ("funchost.sidecar.resolution", "funchost.sidecar.http1")


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    module_level: bool

    def __str__(self) -> str:
        path = self.importer.replace(".", "/")
        return f"{path}.py:{self.line}: imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(folder: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / folder).rglob("*.py"))}


MODULES = {**_modules("funchost"), **_modules("functions")}


def _resolve(importer: str, path: Path, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(name: str, path: Path) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(name, alias.name, child.lineno, module_level))
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(name, path, child.level, child.module)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in MODULES else base
                    found.append(Import(name, target, child.lineno, module_level))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, False)
                for other in child.orelse:
                    visit(other, module_level)
            else:
                visit(child, module_level)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


IMPORTS = [imp for name, path in MODULES.items() for imp in _imports_of(name, path)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_sidecar_never_imports_the_host() -> None:
    bad = [
        str(imp)
        for imp in IMPORTS
        if _within(imp.importer, SIDECAR)
        and _within(imp.target, "funchost")
        and not _within(imp.target, SIDECAR)
    ]
    assert not bad, (
        "the sidecar speaks only the Dapr protocols, so it must not import the host; move what "
        "it needs into funchost/sidecar/:\n" + "\n".join(bad)
    )


def test_functions_never_import_the_sidecar() -> None:
    bad = [
        str(imp)
        for imp in IMPORTS
        if _within(imp.importer, "functions") and _within(imp.target, SIDECAR)
    ]
    assert not bad, (
        "functions/ uses funchost's public API and the Dapr SDK, never the embedded sidecar:\n"
        + "\n".join(bad)
    )


def test_the_host_imports_the_sidecar_only_where_it_starts_it() -> None:
    bad = [
        str(imp)
        for imp in IMPORTS
        if _within(imp.importer, "funchost")
        and not _within(imp.importer, SIDECAR)
        and not any(_within(imp.importer, allowed) for allowed in STARTS_THE_SIDECAR)
        and _within(imp.target, SIDECAR)
        and imp.target not in SHARED_WITH_THE_HOST
    ]
    shared = [
        str(imp)
        for imp in IMPORTS
        if imp.importer in SHARED_WITH_THE_HOST and _within(imp.target, "funchost")
    ]
    assert not shared, f"modules the host may read must stand alone: {shared}"
    assert not bad, (
        f"only {', '.join(STARTS_THE_SIDECAR)} may import the sidecar (they start it); the "
        "rest of the host talks to a sidecar through the Dapr SDK:\n" + "\n".join(bad)
    )


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (a list of modules, first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_funchost_modules() -> None:
    graph: dict[str, set[str]] = {}
    for imp in IMPORTS:
        inside = _within(imp.importer, "funchost") and _within(imp.target, "funchost")
        if inside and imp.module_level and imp.target in MODULES and imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
    cycle = _cycle(graph)
    assert cycle is None, (
        "import cycle among funchost modules (module-level imports): "
        + " -> ".join(cycle or [])
        + "\nfix: move the shared piece into a lower module, or import inside the function"
    )


def test_the_checks_see_the_code() -> None:
    """Guard against a silent pass: the walker finds modules and imports on both sides."""
    assert "funchost.cli" in MODULES and "funchost.sidecar" in MODULES
    assert any(imp.importer == "funchost.commands.run" and _within(imp.target, SIDECAR)
               for imp in IMPORTS)  # fmt: skip
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
