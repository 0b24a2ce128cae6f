"""The sandbox package's import structure: imports flow one way, and nothing comes from the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
PRODUCT = ("sync", "service", "kpi", "storage")


def imported_modules(source: str) -> set[str]:
    """Every module a file imports, wherever the import stands (top level, TYPE_CHECKING, inside a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module name -> the modules of the same package it imports."""
    modules = {f"{package.name}.{path.stem}": path for path in package.glob("*.py")}
    return {name: imported_modules(path.read_text()) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_sandbox_imports_have_no_cycle() -> None:
    """No module of sandbox/ imports itself back through others, TYPE_CHECKING and local imports included."""
    assert find_cycle(import_graph(SANDBOX)) is None


def test_the_cycle_finder_names_a_cycle() -> None:
    """The checker reports a three-module circle as the path around it (so the test above can fail)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_route_modules_do_not_import_the_app() -> None:
    """Handlers get a Context; only the entry points (harness, server, cli) import sandbox.app."""
    importers = {name for name, targets in import_graph(SANDBOX).items() if "sandbox.app" in targets}
    assert importers <= {"sandbox.harness", "sandbox.server", "sandbox.cli"}


@pytest.mark.parametrize("path", sorted(SANDBOX.glob("*.py")), ids=lambda p: p.name)
def test_sandbox_imports_nothing_from_the_product(path: Path) -> None:
    """The sandbox stands in for HubSpot: no import of sync, service, kpi or storage."""
    roots = {name.split(".")[0] for name in imported_modules(path.read_text())}
    assert not roots & set(PRODUCT)
