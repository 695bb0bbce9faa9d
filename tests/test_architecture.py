"""The layout's rules, checked on the source: no import cycles, no private names across modules,
and the layers import only downwards.

Every import counts, including the ones inside functions (an import moved into a function to
dodge a cycle is still a cycle); only ``if TYPE_CHECKING:`` blocks are left out, since they never
run. A private name is one with a leading underscore (dunders aside): importing one from another
module, or reading ``obj._name`` where ``_name`` is not defined in the reading module, fails.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "compression_layer"

# Which top-level areas each area may import (besides the shared base modules).
BASE = {"errors", "settings", "tokens", "minilm", "embeddings"}
ALLOWED = {
    "adapters": set(),
    "compress": {"adapters"},
    "memory": {"compress"},
    "originals": {"compress"},
    "validation": {"compress"},
    "training": {"adapters", "compress", "validation"},
    "server": {"adapters", "compress", "memory", "originals", "validation", "training"},
    "cli": {"adapters", "compress", "memory", "originals", "validation", "training", "server"},
}


@dataclass
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)
    private_imports: list[str] = field(default_factory=list)
    private_reads: list[str] = field(default_factory=list)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# Public APIs spelled with an underscore (namedtuple and ast nodes).
UNDERSCORE_PUBLIC = {"_fields", "_asdict", "_replace", "_make", "_field_defaults"}


def _private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in UNDERSCORE_PUBLIC


class _Imports(ast.NodeVisitor):
    def __init__(self, module: Module, known: set[str]) -> None:
        self.module = module
        self.known = known
        self.is_package = module.path.name == "__init__.py"

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, target: str) -> None:
        while target and target not in self.known:
            target = target.rpartition(".")[0]
        if target and target != self.module.name:
            self.module.imports.add(target)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.module.name.split(".")
            if not self.is_package:
                parts.pop()
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        if base.split(".")[0] != PACKAGE:
            return
        for alias in node.names:
            full = f"{base}.{alias.name}"
            if full in self.known:
                self._add(full)
            else:
                self._add(base)
                if _private(alias.name):
                    self.module.private_imports.append(f"{alias.name} from {base}")


def _defined_private_names(tree: ast.AST) -> set[str]:
    """Underscore names this module defines: functions, classes, assignments, attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if _private(n)}


def _private_reads(tree: ast.AST, own: set[str]) -> list[str]:
    reads = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr) or node.attr in own:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        reads.append(f"line {node.lineno}: {ast.unparse(node)}")
    return reads


def _modules() -> dict[str, Module]:
    paths = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {_module_name(p): Module(_module_name(p), p) for p in paths}
    known = set(modules)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        _Imports(module, known).visit(tree)
        module.private_reads = _private_reads(tree, _defined_private_names(tree))
    return modules


def _cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(modules[root].imports)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(modules[child].imports))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


MODULES = _modules()


def _area(name: str) -> str | None:
    """The area a module belongs to; ``__main__`` modules are entry points, outside the layers."""
    parts = name.split(".")
    if parts[-1] == "__main__":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_the_package_has_modules_to_check() -> None:
    assert len(MODULES) > 50 and f"{PACKAGE}.compress.pipeline" in MODULES


def test_no_import_cycles() -> None:
    assert _cycles(MODULES) == []


def test_the_checker_sees_a_cycle_and_a_private_import() -> None:
    a = Module("p.a", Path("a.py"), imports={"p.b"})
    b = Module("p.b", Path("b.py"), imports={"p.a"})
    assert _cycles({"p.a": a, "p.b": b}) == [["p.a", "p.b"]]
    tree = ast.parse("def f(store):\n    return store._conn\n")
    assert _private_reads(tree, _defined_private_names(tree)) == ["line 2: store._conn"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_across_modules(name: str) -> None:
    module = MODULES[name]
    assert module.private_imports == [], f"{name} imports private names"
    assert module.private_reads == [], f"{name} reads private attributes of other modules"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _area(n)))
def test_areas_import_only_what_they_may(name: str) -> None:
    area = _area(name)
    assert area is not None
    wrong = sorted(
        dep
        for dep in MODULES[name].imports
        if (other := _area(dep)) is not None and other != area and other not in ALLOWED[area]
    )
    assert wrong == [], f"{name} ({area}) may not import {wrong}"
