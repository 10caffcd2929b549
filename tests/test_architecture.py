"""The direction of imports (DESIGN.md) and the absence of import cycles, read from the source by grimp.

grimp sees every import statement, including those inside functions, so a cycle cannot hide in a function body.
Layers: the core `xclab` at the bottom; `backend` (with its `migrations`), `worker` and `dashboard` above it as
peers that meet only through the REST API; the CLI (`cli`) on top, imported by nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import grimp
import pytest

PACKAGES = ("xclab", "backend", "migrations", "worker", "dashboard", "cli")
ROLES = {"backend": ("backend", "migrations"), "worker": ("worker",), "dashboard": ("dashboard",)}
ROLE_LIBRARIES = ("torch", "torchvision", "fastapi", "uvicorn", "sqlalchemy", "alembic", "streamlit")
# The engine is a plain PyTorch library: no job queue, no web, no HTTP, no database.
ENGINE_FORBIDDEN = ("celery", "fastapi", "uvicorn", "httpx", "tenacity", "sqlalchemy", "streamlit")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def chains(graph: grimp.ImportGraph, importer: str, imported: str) -> set[tuple[str, ...]]:
    """Shortest import chains from a package (or module) to another, direct or through other modules."""
    if imported not in graph.modules:
        return set()
    return graph.find_shortest_chains(importer=importer, imported=imported, as_packages=True)


def test_the_graph_sees_imports_inside_functions(graph: grimp.ImportGraph) -> None:
    # `xclab train` imports the engine inside the command (so that the API image, without torch, runs `xclab`).
    assert graph.direct_import_exists(importer="cli.runs", imported="worker.training.trainer")


@pytest.mark.parametrize("imported", [p for p in PACKAGES if p != "xclab"])
def test_the_core_imports_no_other_package(graph: grimp.ImportGraph, imported: str) -> None:
    assert chains(graph, "xclab", imported) == set()


@pytest.mark.parametrize("library", ROLE_LIBRARIES)
def test_the_core_is_free_of_torch_and_web_frameworks(graph: grimp.ImportGraph, library: str) -> None:
    assert chains(graph, "xclab", library) == set()


@pytest.mark.parametrize(
    ("role", "other"), [(role, other) for role in ROLES for other in ROLES if other != role]
)
def test_roles_never_import_each_other(graph: grimp.ImportGraph, role: str, other: str) -> None:
    found = {
        chain
        for importer in ROLES[role]
        for imported in ROLES[other]
        for chain in chains(graph, importer, imported)
    }
    assert found == set()


@pytest.mark.parametrize("importer", [p for p in PACKAGES if p != "cli"])
def test_nothing_imports_the_cli(graph: grimp.ImportGraph, importer: str) -> None:
    assert chains(graph, importer, "cli") == set()


@pytest.mark.parametrize("imported", ENGINE_FORBIDDEN + ("backend", "dashboard", "cli"))
def test_the_engine_knows_neither_celery_nor_http(graph: grimp.ImportGraph, imported: str) -> None:
    assert chains(graph, "worker.training", imported) == set()


def test_the_engine_imports_no_other_worker_module(graph: grimp.ImportGraph) -> None:
    outside = sorted(m for m in graph.find_children("worker") if m != "worker.training")
    assert outside, "the worker package should have modules besides the engine"
    assert {c for m in outside for c in chains(graph, "worker.training", m)} == set()


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert sorted(sorted(c) for c in import_cycles(graph)) == []


def test_the_cycle_finder_sees_module_and_package_cycles() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c", "pkg.sub.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.sub.c", imported="pkg.b")  # the packages pkg.sub and pkg.b import each
    graph.add_import(importer="pkg.b", imported="pkg.sub")  # other, though no module cycle runs through them
    graph.add_import(importer="pkg.sub.c", imported="pkg.sub.d")
    graph.add_import(importer="pkg.sub.d", imported="pkg.sub.c")
    graph.add_import(importer="pkg.a", imported="pkg.b")
    assert import_cycles(graph, ("pkg",)) == {
        frozenset({"pkg.b", "pkg.sub"}),
        frozenset({"pkg.sub.c", "pkg.sub.d"}),
    }


# ---------------------------------------------------------------- cycles


def import_cycles(graph: grimp.ImportGraph, packages: tuple[str, ...] = PACKAGES) -> set[frozenset[str]]:
    """Every set of modules that import one another in a circle, and every set of sibling packages that do
    (package a.x imports a.y somewhere below it and a.y imports a.x), at every level including the top."""
    ours = {m for m in graph.modules if m.split(".")[0] in packages}
    found = set(
        _strongly_connected(ours, {m: graph.find_modules_directly_imported_by(m) & ours for m in ours})
    )
    for parent in [None, *sorted(ours)]:
        siblings = set(packages) if parent is None else graph.find_children(parent)
        if len(siblings) < 2:
            continue
        edges = {a: {b for b in siblings if b != a and _imports(graph, a, b)} for a in siblings}
        found |= set(_strongly_connected(siblings, edges))
    return found


def _imports(graph: grimp.ImportGraph, importer: str, imported: str) -> bool:
    """Whether anything in or below `importer` imports anything in or below `imported` directly."""
    return graph.direct_import_exists(importer=importer, imported=imported, as_packages=True)


def _strongly_connected(nodes: Iterable[str], edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm; returns the components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return components
